using System.Net;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Peers;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core;

/// <summary>What every handler needs: options, tables, pools, clock and counters. One per server.</summary>
internal sealed class TurnContext
{
    private int _nextAlternate;
    private readonly IPEndPoint[] _auxiliaryV4;
    private readonly IPEndPoint[] _auxiliaryV6;
    private readonly IPEndPoint[] _alternateV4;
    private readonly IPEndPoint[] _alternateV6;
    private readonly IPEndPoint[] _tlsAlternateV4;
    private readonly IPEndPoint[] _tlsAlternateV6;
    private volatile PeerAddressPolicy _peerPolicy;
    private volatile bool _draining;

    /// <summary>Gathers the server's shared state; the SOFTWARE value is encoded to UTF-8 once here.</summary>
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
        _auxiliaryV4 = [.. options.AuxiliaryServers.Where(a => a.IsIPv4).Select(a => a.ToEndPoint())];
        _auxiliaryV6 = [.. options.AuxiliaryServers.Where(a => !a.IsIPv4).Select(a => a.ToEndPoint())];
        _alternateV4 = [.. options.AlternateServers.Where(IsIPv4)];
        _alternateV6 = [.. options.AlternateServers.Where(e => !IsIPv4(e))];
        _tlsAlternateV4 = [.. options.TlsAlternateServers.Where(IsIPv4)];
        _tlsAlternateV6 = [.. options.TlsAlternateServers.Where(e => !IsIPv4(e))];

        static bool IsIPv4(IPEndPoint endPoint) => endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
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

    /// <summary>The server's options (realm, lifetimes in seconds, relay switches); the peer policy in force is <see cref="PeerPolicy"/>.</summary>
    public TurnOptions Options { get; }

    /// <summary>The clock: timestamps for every expiry, wall time for creation times.</summary>
    public TimeProvider Time { get; }

    /// <summary>The live allocations by 5-tuple, with the per-user quotas.</summary>
    public AllocationTable Allocations { get; }

    /// <summary>The relay ports, min-port..max-port.</summary>
    public RelayPortPool Ports { get; }

    /// <summary>Ports held by RESERVATION-TOKEN for a later Allocate (EVEN-PORT with the R bit, RFC 8656 section 7.2).</summary>
    public ReservationTable Reservations { get; }

    /// <summary>Recent responses, so a retransmitted request gets the same answer (RFC 8489 section 6.3.4).</summary>
    public TransactionCache Transactions { get; }

    /// <summary>The long-term credential check (RFC 8489 section 9.2), or null when authentication is off (no-auth).</summary>
    public LongTermCredentialAuthenticator? Authenticator { get; }

    /// <summary>Binds relay sockets: UDP, and TCP for RFC 6062.</summary>
    public IRelayEndpointFactory RelayFactory { get; }

    /// <summary>The server-wide counters: drops, requests, authentication failures, traffic of ended allocations.</summary>
    public ServerCounters Counters { get; }

    /// <summary>RFC 6062 peer data connections waiting for ConnectionBind, by CONNECTION-ID.</summary>
    public TcpConnectionTable TcpConnections { get; }

    /// <summary>RFC 5780 NAT behaviour discovery for Binding over UDP, or null when it is off.</summary>
    public NatBehaviorDiscovery? NatDiscovery { get; set; }

    /// <summary>The SOFTWARE attribute value as UTF-8 bytes, or null when responses carry none.</summary>
    public byte[]? Software { get; }

    /// <summary>Now, as a <see cref="TimeProvider.GetTimestamp"/> value: the unit of every <c>ExpiresAt</c>.</summary>
    public long Now => Time.GetTimestamp();

    /// <summary>
    /// Converts <paramref name="seconds"/> to timestamp ticks (<see cref="TimeProvider.TimestampFrequency"/> per second), to add
    /// to <see cref="Now"/>.
    /// </summary>
    public long SecondsToTicks(long seconds) => seconds * Time.TimestampFrequency;

    /// <summary>
    /// The next alternate server for a client on <paramref name="fiveTuple"/>, round robin, as coTURN spreads load:
    /// from <see cref="TurnOptions.TlsAlternateServers"/> for TLS and DTLS, else <see cref="TurnOptions.AlternateServers"/>,
    /// else, over UDP with <see cref="TurnOptions.UdpSelfBalance"/>, the auxiliary servers; only servers of the address
    /// family the client reached this one by, as ALTERNATE-SERVER must be (RFC 8489 section 14.15). Null when there is
    /// none, when the client reached one of <see cref="TurnOptions.AuxiliaryServers"/>, or when the list names the
    /// address the client reached: a list shared by every server of a cluster must not send a client back where it is.
    /// </summary>
    public IPEndPoint? NextAlternateServer(in FiveTuple fiveTuple)
    {
        bool v4 = fiveTuple.ServerAddress.IsIPv4;
        IPEndPoint[] servers = fiveTuple.Protocol switch
        {
            TransportProtocol.Tls or TransportProtocol.Dtls => v4 ? _tlsAlternateV4 : _tlsAlternateV6,
            TransportProtocol.Udp when Options.AlternateServers.Count == 0 && Options.UdpSelfBalance => v4 ? _auxiliaryV4 : _auxiliaryV6,
            _ => v4 ? _alternateV4 : _alternateV6,
        };
        if (servers.Length == 0 || Options.AuxiliaryServers.Contains(fiveTuple.ServerAddress))
        {
            return null;
        }

        // Behind NAT (external-ip) the list names this server by its public address, the one clients reached it by.
        TransportAddress reached = fiveTuple.ServerAddress;
        TransportAddress reachedPublic = Options.Advertise(reached);
        foreach (IPEndPoint server in servers)
        {
            TransportAddress listed = TransportAddress.FromEndPoint(server);
            if (listed == reached || listed == reachedPublic)
            {
                return null;
            }
        }

        return servers[NextIndex(servers.Length)];
    }

    private int NextIndex(int count) => (int)((uint)Interlocked.Increment(ref _nextAlternate) % (uint)count);
}
