using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Net;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// A relay socket: UDP, bound to a relay IP and a pool port, with one receive loop that hands each peer datagram to
/// its allocation. The receive buffer keeps headroom for the ChannelData or Data indication header, so relaying to
/// the client writes the header in front of the payload and sends without copying.
/// </summary>
internal sealed partial class UdpRelayEndpoint : RelayEndpoint
{
    /// <summary>Largest peer datagram relayed, in bytes; larger ones are dropped and counted as truncated.</summary>
    public const int MaxPayload = 2048 - Allocation.PeerDataHeadroom - Allocation.PeerDataTailroom;

    private readonly Socket _socket;
    private readonly ServerCounters _counters;
    private readonly ILogger _logger;
    private readonly DescriptorBudget _descriptors;
    private int _disposed;

    /// <summary>
    /// Wraps a bound relay <paramref name="socket"/> at <paramref name="localAddress"/>, whose descriptor was taken from
    /// <paramref name="descriptors"/> and goes back on <see cref="Dispose"/>; its receive loop starts with <see cref="Start"/>.
    /// </summary>
    public UdpRelayEndpoint(Socket socket, TransportAddress localAddress, ServerCounters counters, ILogger logger, DescriptorBudget descriptors)
        : base(localAddress)
    {
        _socket = socket;
        _counters = counters;
        _logger = logger;
        _descriptors = descriptors;
    }

    /// <inheritdoc />
    public override bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer)
    {
        try
        {
            _socket.SendTo(payload, SocketFlags.None, peer);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public override void Start(Allocation allocation) => _ = ReceiveLoopAsync(allocation);

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _socket.Dispose();
            _descriptors.Return();
        }
    }

    private async Task ReceiveLoopAsync(Allocation allocation)
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(Allocation.PeerDataHeadroom + MaxPayload + Allocation.PeerDataTailroom, pinned: true);
        // One byte more than a payload may have: .NET on Linux reports a cut-short datagram as a whole one of the
        // buffer's length, so a datagram that fills the extra byte is known to be too big. The byte is tailroom,
        // which a relayed payload overwrites anyway.
        Memory<byte> payloadArea = buffer.AsMemory(Allocation.PeerDataHeadroom, MaxPayload + 1);
        var from = new SocketAddress(_socket.AddressFamily);
        while (true)
        {
            int received;
            try
            {
                received = await _socket.ReceiveFromAsync(payloadArea, SocketFlags.None, from).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.MessageSize)
            {
                _counters.Drop(DropReason.Truncated);
                continue;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue;
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
            {
                return; // the allocation ended and closed the socket
            }
            catch (SocketException e)
            {
                LogReceiveFailed(_logger, e, LocalAddress.ToString()); // the relay is deaf from now on: say so
                return;
            }

            if (received > MaxPayload)
            {
                _counters.Drop(DropReason.Truncated);
                continue;
            }

            try
            {
                if (TransportAddress.TryRead(from, out TransportAddress peer))
                {
                    allocation.ForwardToClient(buffer, Allocation.PeerDataHeadroom, received, peer);
                }
            }
            catch (Exception e)
            {
                // Never let one datagram end the relay: log the bug, keep relaying.
                LogForwardFailed(_logger, e, LocalAddress.ToString());
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Receiving on relay {Relay} failed; it relays nothing more from peers")]
    private static partial void LogReceiveFailed(ILogger logger, Exception exception, string relay);

    [LoggerMessage(Level = LogLevel.Error, Message = "Relaying a peer datagram on {Relay} failed")]
    private static partial void LogForwardFailed(ILogger logger, Exception exception, string relay);
}
