using System.Net;
using System.Net.Sockets;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>A UDP peer on 127.0.0.1 (or another address) that echoes every datagram back to its sender and remembers what it got.</summary>
internal sealed class UdpEchoPeer : IDisposable
{
    private readonly Socket _socket;
    private readonly Task _loop;

    public UdpEchoPeer(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(address, 0));
        _loop = Task.Run(EchoAsync);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public System.Collections.Concurrent.ConcurrentQueue<(byte[] Data, IPEndPoint From)> Received { get; } = new();

    public void Dispose()
    {
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }

    private async Task EchoAsync()
    {
        var buffer = new byte[65536];
        while (true)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0));
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return;
            }

            var from = (IPEndPoint)result.RemoteEndPoint;
            Received.Enqueue((buffer[..result.ReceivedBytes], from));
            try
            {
                await _socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), SocketFlags.None, from);
            }
            catch (ObjectDisposedException)
            {
                return; // disposed while echoing the last datagram of a test
            }
            catch (SocketException)
            {
                // An ICMP error from an earlier send to a sender that has gone: the next datagram is echoed as ever.
            }
        }
    }
}
