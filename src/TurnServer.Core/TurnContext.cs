using System.Net;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Peers;
using TurnServer.Core.Relay;

namespace TurnServer.Core;

/// <summary>What every handler needs: options, tables, pools, clock and counters. One per server.</summary>
internal sealed class TurnContext
{
    private int _nextAlternate;
    private volatile PeerAddressPolicy _peerPolicy;
    private volatile bool _draining;

    public TurnContext(
        TurnOptions options,
        TimeProvider time,
        AllocationTable allocations,
        RelayPortPool ports,
        ReservationTable reservations,
        TransactionCache transactions,
        LongTermCredentialAuthenticator? authenticator,
        IRelayEndpointFactory relayFactory,
        ServerCounters counters,
        TcpConnectionTable tcpConnections)
    {
        TcpConnections = tcpConnections;
        Options = options;
        Time = time;
        Allocations = allocations;
        Ports = ports;
        Reservations = reservations;
        Transactions = transactions;
        Authenticator = authenticator;
        RelayFactory = relayFactory;
        Counters = counters;
        Software = options.Software is null ? null : Encoding.UTF8.GetBytes(options.Software);
        _peerPolicy = options.PeerPolicy;
    }

    /// <summary>Which peers clients may reach; starts as the options' and is replaced whole on reload.</summary>
    public PeerAddressPolicy PeerPolicy
    {
        get => _peerPolicy;
        set => _peerPolicy = value;
    }

    /// <summary>True once draining began: Allocate is refused, existing allocations carry on.</summary>
    public bool Draining
    {
        get => _draining;
        set => _draining = value;
    }

    public TurnOptions Options { get; }

    public TimeProvider Time { get; }

    public AllocationTable Allocations { get; }

    public RelayPortPool Ports { get; }

    public ReservationTable Reservations { get; }

    public TransactionCache Transactions { get; }

    public LongTermCredentialAuthenticator? Authenticator { get; }

    public IRelayEndpointFactory RelayFactory { get; }

    public ServerCounters Counters { get; }

    public TcpConnectionTable TcpConnections { get; }

    public byte[]? Software { get; }

    public long Now => Time.GetTimestamp();

    public long SecondsToTicks(long seconds) => seconds * Time.TimestampFrequency;

    /// <summary>The next alternate server, round robin, as coTURN spreads load.</summary>
    public IPEndPoint NextAlternateServer()
    {
        IReadOnlyList<IPEndPoint> servers = Options.AlternateServers;
        int index = (int)((uint)Interlocked.Increment(ref _nextAlternate) % (uint)servers.Count);
        return servers[index];
    }
}
