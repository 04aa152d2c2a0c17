using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>A clock that moves only when told.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private long _ticks = 1_000_000;
    private DateTimeOffset _utc = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => 1000;

    public override long GetTimestamp() => _ticks;

    public override DateTimeOffset GetUtcNow() => _utc;

    public void Advance(TimeSpan by)
    {
        _ticks += (long)by.TotalMilliseconds;
        _utc += by;
    }
}

/// <summary>Records what an allocation sends to its client.</summary>
internal sealed class RecordingClient(TransportProtocol protocol) : ClientConnection, IClientConnectionSource, IDataConnectionBinder
{
    private readonly System.Threading.Channels.Channel<byte[]> _sent = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();

    /// <summary>The peer connection a ConnectionBind attached to this connection.</summary>
    public IPeerDataConnection? BoundPeer { get; private set; }

    public void BindPeer(IPeerDataConnection peer, Allocation allocation) => BoundPeer = peer;

    public List<byte[]> Frames { get; } = [];

    /// <summary>When set, frames go here instead of being recorded (allocation tests).</summary>
    public ClientConnection? Forward { get; set; }

    public override TransportProtocol Protocol => protocol;

    /// <summary>When set, frames are dropped as by a client that does not read: <see cref="Send"/> returns false.</summary>
    public bool Refuses { get; set; }

    public override bool Send(ReadOnlySpan<byte> frame)
    {
        if (Refuses)
        {
            return false;
        }

        if (Forward is not null)
        {
            return Forward.Send(frame);
        }

        byte[] copy = frame.ToArray();
        lock (Frames)
        {
            Frames.Add(copy);
        }

        _sent.Writer.TryWrite(copy);
        return true;
    }

    /// <summary>The next frame sent from now on or not yet taken, in order, within <paramref name="timeout"/>.</summary>
    public async Task<byte[]> NextFrameAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await _sent.Reader.ReadAsync(cts.Token);
    }

    public ClientConnection GetConnection(in FiveTuple fiveTuple) => this;

    /// <summary>How often the engine said this connection no longer carries its allocation.</summary>
    public int ReleasedCount { get; private set; }

    public override void OnAllocationReleased() => ReleasedCount++;
}

/// <summary>A relay "socket" that records what it sends.</summary>
internal sealed class FakeRelay(TransportAddress local) : RelayEndpoint(local)
{
    public List<(byte[] Payload, TransportAddress Peer)> Sent { get; } = [];

    /// <summary>False: only count sends (allocation tests).</summary>
    public bool Recording { get; set; } = true;

    public int SendCount { get; private set; }

    public Allocation? Owner { get; private set; }

    public bool Disposed { get; private set; }

    public override bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer)
    {
        SendCount++;
        if (Recording)
        {
            Assert.True(TransportAddress.TryRead(peer, out TransportAddress address));
            Sent.Add((payload.ToArray(), address));
        }

        return true;
    }

    public override void Start(Allocation allocation) => Owner = allocation;

    public override void Dispose() => Disposed = true;
}

/// <summary>Binds fake relays on the server address's IP, or 192.0.2.1 / 2001:db8::1 for the other family; ports listed in <see cref="Busy"/> fail as if taken by another program.</summary>
internal sealed class FakeRelayFactory : IRelayEndpointFactory
{
    public bool SupportsIPv4 { get; set; } = true;

    public bool SupportsIPv6 { get; set; } = true;

    public HashSet<int> Busy { get; } = [];

    /// <summary>While set, every bind fails as when the process is out of descriptors; counts the attempts.</summary>
    public bool OutOfDescriptors { get; set; }

    public int RefusedBinds { get; private set; }

    /// <summary>While set, binds of this family fail as when its relay address is out of resources.</summary>
    public AddressFamily? FailingFamily { get; set; }

    public List<FakeRelay> Bound { get; } = [];

    public bool SupportsFamily(AddressFamily family, in TransportAddress serverAddress) =>
        family == AddressFamily.InterNetwork ? SupportsIPv4 : SupportsIPv6;

    public RelayBindError TryBind(AddressFamily family, in TransportAddress serverAddress, int port, bool dontFragment, out RelayEndpoint? endpoint)
    {
        endpoint = null;
        if (!SupportsFamily(family, serverAddress))
        {
            return RelayBindError.FamilyNotSupported;
        }

        if (OutOfDescriptors || family == FailingFamily)
        {
            RefusedBinds++;
            return RelayBindError.NoResources;
        }

        if (Busy.Contains(port))
        {
            return RelayBindError.PortInUse;
        }

        // As the real factory without relay-ip: the IP the client reached, if of the family.
        IPAddress ip = serverAddress.AddressFamily == family ? serverAddress.ToIPAddress() : IPAddress.Parse(family == AddressFamily.InterNetwork ? "192.0.2.1" : "2001:db8::1");
        var relay = new FakeRelay(new TransportAddress(ip, port));
        Bound.Add(relay);
        endpoint = relay;
        return RelayBindError.None;
    }

    public List<FakeTcpRelay> BoundTcp { get; } = [];

    public RelayBindError TryBindTcp(AddressFamily family, in TransportAddress serverAddress, int port, out TcpRelayEndpoint? endpoint)
    {
        endpoint = null;
        if (OutOfDescriptors)
        {
            RefusedBinds++;
            return RelayBindError.NoResources;
        }

        var relay = new FakeTcpRelay(new TransportAddress(IPAddress.Parse(family == AddressFamily.InterNetwork ? "192.0.2.1" : "2001:db8::1"), port));
        BoundTcp.Add(relay);
        endpoint = relay;
        return RelayBindError.None;
    }
}

/// <summary>A TCP relay whose connects are answered by the test.</summary>
internal sealed class FakeTcpRelay(TransportAddress local) : TcpRelayEndpoint(local)
{
    public List<(TransportAddress Peer, TaskCompletionSource<IPeerDataConnection?> Result)> Connects { get; } = [];

    public Allocation? Owner { get; private set; }

    public override Task<IPeerDataConnection?> ConnectAsync(TransportAddress peer)
    {
        var result = new TaskCompletionSource<IPeerDataConnection?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Connects.Add((peer, result));
        return result.Task;
    }

    public override void Start(Allocation allocation) => Owner = allocation;

    public bool Disposed { get; private set; }

    public override void Dispose() => Disposed = true;
}

/// <summary>A peer connection that records whether it was closed.</summary>
internal sealed class FakePeerConnection(TransportAddress peer) : IPeerDataConnection
{
    public TransportAddress PeerAddress => peer;

    public bool Disposed { get; private set; }

    public void Dispose() => Disposed = true;
}

/// <summary>Records allocation starts and ends.</summary>
internal sealed class RecordingObserver : IAllocationObserver
{
    public List<Allocation> Created { get; } = [];

    public List<(Allocation Allocation, AllocationEndReason Reason)> Ended { get; } = [];

    public void OnCreated(Allocation allocation) => Created.Add(allocation);

    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        Events.Add($"ended {allocation.SessionId} {reason}");
        Ended.Add((allocation, reason));
    }

    public List<(Allocation Allocation, uint Lifetime)> Refreshed { get; } = [];

    /// <summary>Refreshes and ends in the order they were told.</summary>
    public List<string> Events { get; } = [];

    public void OnRefreshed(Allocation allocation, uint lifetime)
    {
        Events.Add($"refreshed {allocation.SessionId} {lifetime}");
        Refreshed.Add((allocation, lifetime));
    }

    public List<(Allocation Allocation, FiveTuple From)> Moved { get; } = [];

    public void OnMoved(Allocation allocation, in FiveTuple from) => Moved.Add((allocation, from));

    public List<(TransportAddress Relayed, AllocationEndReason Reason)> RelaysDeleted { get; } = [];

    public void OnRelayDeleted(Allocation allocation, TransportAddress relayed, AllocationEndReason reason) => RelaysDeleted.Add((relayed, reason));
}
