using System.Net;
using TurnServer.Core.Peers;
using TurnServer.Stun;

namespace TurnServer.Core;

/// <summary>
/// The protocol settings of the server: what the request handlers need to know, built once at start-up from the
/// turnserver.conf options. Times are seconds, as in the configuration file.
/// </summary>
public sealed class TurnOptions
{
    /// <summary>The realm sent in REALM and used in every long-term key (coTURN's <c>realm</c>).</summary>
    public string Realm { get; init; } = string.Empty;

    /// <summary>
    /// True when requests must carry long-term credentials (RFC 8489 section 9.2): coTURN's <c>lt-cred-mech</c>
    /// or <c>use-auth-secret</c>. False is coTURN's <c>no-auth</c>.
    /// </summary>
    public bool RequireAuthentication { get; init; } = true;

    /// <summary>
    /// Offer RFC 8016 mobility (coTURN's <c>mobility</c>): an Allocate with an empty MOBILITY-TICKET gets a ticket that
    /// moves the allocation to a new 5-tuple; without it such requests get 405 (Mobility Forbidden).
    /// </summary>
    public bool Mobility { get; init; }

    /// <summary>
    /// coTURN's <c>server-relay</c> (non-standard, dangerous): datagrams from any peer reach the client as Data
    /// indications, without the permission RFC 8656 section 9 requires. For servers whose own applications sit
    /// behind the relay; never for a public TURN service.
    /// </summary>
    public bool ServerRelay { get; init; }

    /// <summary>
    /// coTURN's <c>check-origin-consistency</c>: every request on an allocation must carry the ORIGIN its Allocate
    /// carried (or none, if that had none); otherwise 441 (Wrong Credentials).
    /// </summary>
    public bool CheckOriginConsistency { get; init; }

    /// <summary>
    /// coTURN's <c>oauth</c> (RFC 7635 third-party authorization): the server name 401 challenges carry in
    /// THIRD-PARTY-AUTHORIZATION and access tokens must be sealed for (<c>server-name</c>, else the realm); null
    /// without OAuth. Keys come from credential sources that are <see cref="Auth.IOAuthKeySource"/>s (the user database).
    /// </summary>
    public string? OAuthServerName { get; init; }

    /// <summary>Require credentials on Binding requests as well (coTURN's <c>secure-stun</c>).</summary>
    public bool SecureStun { get; init; }

    /// <summary>Answer only Binding requests; ignore TURN requests (coTURN's <c>stun-only</c>).</summary>
    public bool StunOnly { get; init; }

    /// <summary>Ignore Binding requests (coTURN's <c>no-stun</c>).</summary>
    public bool NoStun { get; init; }

    /// <summary>Add FINGERPRINT to every response (coTURN's <c>fingerprint</c>); responses to requests that carry one get one anyway.</summary>
    public bool Fingerprint { get; init; }

    /// <summary>The SOFTWARE attribute value, or null to send none (coTURN's <c>no-software-attribute</c>).</summary>
    public string? Software { get; init; } = "TurnServer";

    /// <summary>Seconds a NONCE stays valid; 0 means it never goes stale (coTURN's <c>stale-nonce</c>).</summary>
    public int NonceLifetimeSeconds { get; init; } = 600;

    /// <summary>Allocation lifetime when the client asks for less or nothing: 600 s (RFC 8656 section 3.2).</summary>
    public int DefaultAllocationLifetimeSeconds { get; init; } = 600;

    /// <summary>Upper bound on a requested allocation lifetime (coTURN's <c>max-allocate-lifetime</c>, default 3600 s).</summary>
    public int MaxAllocationLifetimeSeconds { get; init; } = 3600;

    /// <summary>Permission lifetime: 300 s (RFC 8656 section 9; coTURN's <c>permission-lifetime</c>).</summary>
    public int PermissionLifetimeSeconds { get; init; } = 300;

    /// <summary>Channel binding lifetime: 600 s (RFC 8656 section 12; coTURN's <c>channel-lifetime</c>).</summary>
    public int ChannelLifetimeSeconds { get; init; } = 600;

    /// <summary>Concurrent allocations one username may hold; 0 = unlimited (coTURN's <c>user-quota</c>).</summary>
    public int UserQuota { get; init; }

    /// <summary>Concurrent allocations on the whole server; 0 = unlimited (coTURN's <c>total-quota</c>).</summary>
    public int TotalQuota { get; init; }

    /// <summary>Whether UDP relaying (REQUESTED-TRANSPORT 17) is offered (coTURN's <c>no-udp-relay</c> turns it off).</summary>
    public bool AllowUdpRelay { get; init; } = true;

    /// <summary>Whether TCP relaying (REQUESTED-TRANSPORT 6, RFC 6062) is offered (coTURN's <c>no-tcp-relay</c> turns it off).</summary>
    public bool AllowTcpRelay { get; init; } = true;

    /// <summary>
    /// The relay family for an Allocate that names none; <see cref="DefaultRelayFamily.IPv4"/>, RFC 8656's, unless
    /// configured otherwise. A family the server cannot relay on draws 440, as if it had been requested.
    /// </summary>
    public DefaultRelayFamily DefaultRelayFamily { get; init; } = DefaultRelayFamily.IPv4;

    /// <summary>
    /// Relayed bytes per second each allocation may carry each way, from client to peers and from peers to client
    /// (coTURN's <c>max-bps</c>); more in one second is dropped. 0: no limit.
    /// </summary>
    public long MaxBps { get; init; }

    /// <summary>
    /// Bytes per second all allocations together may be granted (coTURN's <c>bps-capacity</c>): each Allocate takes
    /// <see cref="MaxBps"/>, or what is left; with nothing left it gets 486. 0: no limit. Has effect only with
    /// <see cref="MaxBps"/>.
    /// </summary>
    public long BpsCapacity { get; init; }

    /// <summary>Which peers a client may reach.</summary>
    public PeerAddressPolicy PeerPolicy { get; init; } = new(allowLoopback: false, denyMulticast: true, allowed: [], denied: []);

    /// <summary>
    /// Servers to send Allocate requests over UDP and TCP to with 300 Try Alternate (coTURN's <c>alternate-server</c>),
    /// in turn. Empty: this server allocates for those clients.
    /// </summary>
    public IReadOnlyList<IPEndPoint> AlternateServers { get; init; } = [];

    /// <summary>
    /// As <see cref="AlternateServers"/>, for clients over TLS and DTLS (coTURN's <c>tls-alternate-server</c>), which
    /// need a server that speaks their transport. Empty: this server allocates for those clients.
    /// </summary>
    public IReadOnlyList<IPEndPoint> TlsAlternateServers { get; init; } = [];

    /// <summary>
    /// The server's auxiliary listening addresses (coTURN's <c>aux-server</c>): clients that reached one are always
    /// allocated here, never sent to an alternate server, as in coTURN.
    /// </summary>
    public IReadOnlyList<TransportAddress> AuxiliaryServers { get; init; } = [];

    /// <summary>
    /// coTURN's <c>udp-self-balance</c>: an Allocate over UDP to a main listening address is answered 300 Try
    /// Alternate naming the <see cref="AuxiliaryServers"/> of its family in turn, unless alternate servers are set.
    /// </summary>
    public bool UdpSelfBalance { get; init; }

    /// <summary>
    /// Addresses to advertise instead of a relay socket's own (coTURN's <c>external-ip</c>): maps a private relay IP to
    /// its public one for servers behind a 1:1 NAT. A key of <see cref="IPAddress.Any"/> or
    /// <see cref="IPAddress.IPv6Any"/> maps every relay IP of that family.
    /// </summary>
    public IReadOnlyDictionary<IPAddress, IPAddress> ExternalAddresses { get; init; } = new Dictionary<IPAddress, IPAddress>();

    /// <summary>
    /// The address a relay bound at <paramref name="local"/> is advertised as in XOR-RELAYED-ADDRESS. A wildcard
    /// mapping (the single-address <c>external-ip</c>) leaves loopback relays as they are, as coTURN does: a client on
    /// this host (a health check) relaying on 127.0.0.1 must be told 127.0.0.1, not the public address.
    /// </summary>
    public TransportAddress Advertise(in TransportAddress local)
    {
        if (ExternalAddresses.Count == 0)
        {
            return local;
        }

        IPAddress ip = local.ToIPAddress();
        if (ExternalAddresses.TryGetValue(ip, out IPAddress? mapped)
            || (!IPAddress.IsLoopback(ip) && ExternalAddresses.TryGetValue(local.IsIPv4 ? IPAddress.Any : IPAddress.IPv6Any, out mapped)))
        {
            return new TransportAddress(mapped, local.Port);
        }

        return local;
    }
}
