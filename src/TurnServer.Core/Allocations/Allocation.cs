using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>
/// An allocation (RFC 8656 section 2.2): the relayed transport address(es) a client got with Allocate, keyed by its
/// 5-tuple, with its permissions, channel bindings, lifetime and traffic counters.
/// Readers on the relay path take no lock: permissions and channels live in arrays that writers replace (copy on
/// write, under the allocation's lock) and expiry times are volatile timestamps checked on use.
/// Each traffic counter has a single writer (the client's receive loop or the relay socket's), so plain increments
/// are exact.
/// </summary>
public sealed class Allocation
{
    /// <summary>
    /// Bytes a relay receive buffer keeps free before the payload, so a Data indication header (20-byte STUN header,
    /// XOR-PEER-ADDRESS of up to 24 bytes, DATA header of 4) or a ChannelData header is written in place.
    /// </summary>
    public const int PeerDataHeadroom = 48;

    /// <summary>Bytes a relay receive buffer keeps free after the payload: padding (3) and FINGERPRINT (8), rounded up.</summary>
    public const int PeerDataTailroom = 12;

    /// <summary>
    /// The most permissions one allocation holds, expired ones awaiting the sweep included. RFC 8656 leaves the number
    /// to the server; a bound keeps the per-packet permission search short whatever a client asks for. A CreatePermission
    /// or ChannelBind that would pass it gets 508 (Insufficient Capacity).
    /// </summary>
    public const int MaxPermissions = 1024;

    /// <summary>The most channel bindings one allocation holds, in their 5-minute hold after expiry included; past it, 508.</summary>
    public const int MaxChannels = 1024;

    private readonly Lock _sync = new();
    private ClientPath _path;
    private Credential _credential;
    private readonly TimeProvider _time;
    private readonly bool _fingerprint;
    private readonly HashSet<TransportAddress> _tcpPeers = [];
    private int _pendingConnects;
    private int _unboundPeers;
    private Permission[] _permissions = [];
    private ChannelBinding[] _channels = [];
    private long _expiresAt;
    private long _expiresAtV4;
    private long _expiresAtV6;
    private int _released;

    // max-bps windows: the second (timestamp / frequency) being counted and the bytes counted in it, per direction.
    private long _fromClientSecond;
    private long _fromClientBytes;
    private long _toClientSecond;
    private long _toClientBytes;

    /// <summary>
    /// An allocation for <paramref name="fiveTuple"/>, reached through <paramref name="client"/>, of <paramref name="username"/> with
    /// <paramref name="key"/> (both null under no-auth), expiring at <paramref name="expiresAt"/> (a <see cref="TimeProvider.GetTimestamp"/>
    /// value). <paramref name="fingerprint"/> adds FINGERPRINT to the indications it sends. Relays are attached with <see cref="AttachRelay"/>.
    /// </summary>
    internal Allocation(
        FiveTuple fiveTuple,
        ClientConnection client,
        string? username,
        byte[]? key,
        TimeProvider time,
        bool fingerprint,
        long expiresAt)
    {
        _path = new ClientPath(fiveTuple, client);
        Username = username;
        _credential = new Credential(username, key, long.MaxValue);
        _time = time;
        _fingerprint = fingerprint;
        _expiresAt = expiresAt;
        _expiresAtV4 = expiresAt;
        _expiresAtV6 = expiresAt;
        CreatedAt = time.GetUtcNow();
    }

    /// <summary>
    /// The session number that coTURN's log lines, CLI and <c>redis-statsdb</c> keys name this allocation by (written as
    /// 18 digits): from 1, in the order allocations were added, unique while the process runs. Set by <see cref="AllocationTable.Add"/>.
    /// </summary>
    public long SessionId { get; internal set; }

    /// <summary>The 5-tuple that names this allocation; a mobility move (RFC 8016) changes it.</summary>
    public FiveTuple FiveTuple => Volatile.Read(ref _path).FiveTuple;

    /// <summary>The path back to the client, the one of <see cref="FiveTuple"/>.</summary>
    public ClientConnection Client => Volatile.Read(ref _path).Connection;

    /// <summary>
    /// The ticket that moves this allocation to another 5-tuple (RFC 8016 section 3.4: printable, at most
    /// <see cref="Handlers.Mobility.MaxTicketBytes"/> bytes), or null when the client did not ask for mobility.
    /// </summary>
    public string? MobilityTicket { get; private set; }

    /// <summary>
    /// The ticket this allocation had before its last move: the client may retransmit the Refresh that moved it,
    /// which still carries that ticket, from the new 5-tuple.
    /// </summary>
    internal string? PreviousMobilityTicket { get; private set; }

    /// <summary>The authenticated username, or null under no-auth.</summary>
    public string? Username { get; }

    /// <summary>
    /// The key that checks the allocation's requests and signs their answers: the long-term key it was created with,
    /// or, for an allocation made with an RFC 7635 access token, the MAC key of the latest token.
    /// </summary>
    internal byte[]? Key => Volatile.Read(ref _credential).Key;

    /// <summary>
    /// Who signs with <see cref="Key"/>: <see cref="Username"/>, or the kid of the latest access token (a client may
    /// present tokens of different kids over an allocation's life).
    /// </summary>
    internal string? KeyUser => Volatile.Read(ref _credential).User;

    /// <summary>
    /// When <see cref="Key"/> expires, in Unix seconds: the end of the access token it came with, else
    /// <see cref="long.MaxValue"/>. Requests signed with it fail after that until a new token comes.
    /// </summary>
    internal long KeyExpiresAt => Volatile.Read(ref _credential).ExpiresAt;

    /// <summary>
    /// The transaction ID of the Allocate request that made this allocation: a retransmission of it is answered with the
    /// success again, not 437 (RFC 8656 section 7.2, RFC 8489 section 6.3.4).
    /// </summary>
    internal TransactionId CreatedBy { get; init; }

    /// <summary>The family (0x01 IPv4, 0x02 IPv6) of the ADDRESS-ERROR-CODE in the Allocate success, or 0 (RFC 8656 section 18.12).</summary>
    internal byte AddressErrorFamily { get; init; }

    /// <summary>The error code (440 or 508) of the ADDRESS-ERROR-CODE in the Allocate success, or 0 when it had none.</summary>
    internal int AddressError { get; init; }

    /// <summary>True when an RFC 7635 access token authorized the Allocate; later tokens may then change the key.</summary>
    public bool ViaAccessToken { get; init; }

    /// <summary>When Allocate succeeded (wall clock).</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>The IPv4 relay, if this allocation has one.</summary>
    public RelayEndpoint? RelayV4 { get; private set; }

    /// <summary>The IPv6 relay, if this allocation has one.</summary>
    public RelayEndpoint? RelayV6 { get; private set; }

    /// <summary>The first relayed transport address, as advertised in XOR-RELAYED-ADDRESS.</summary>
    public TransportAddress RelayedTransportAddress { get; private set; }

    /// <summary>The second relayed transport address of a dual allocation (RFC 8656 section 7.1), else default.</summary>
    public TransportAddress AdditionalRelayedTransportAddress { get; private set; }

    /// <summary>
    /// Expiry as a <see cref="TimeProvider.GetTimestamp"/> value: of the whole allocation, so for a dual allocation
    /// the later of its two relays' (<see cref="GetExpiresAt"/>).
    /// </summary>
    public long ExpiresAt => Volatile.Read(ref _expiresAt);

    /// <summary>True while the allocation has a relay of each address family (a dual allocation, RFC 8656 section 7.1).</summary>
    public bool IsDual => RelayV4 is not null && RelayV6 is not null;

    /// <summary>How long ago Allocate succeeded, by the allocation's clock; never negative (the wall clock may step back).</summary>
    public TimeSpan Age => TimeSpan.FromTicks(Math.Max(0, (_time.GetUtcNow() - CreatedAt).Ticks));

    /// <summary>
    /// The allocation's time-to-expiry (RFC 8656 section 2.2) now, rounded to whole seconds: what its last Allocate or
    /// Refresh granted, less the time since; negative once it has expired.
    /// </summary>
    public long SecondsToExpiry => (long)Math.Round(_time.GetElapsedTime(_time.GetTimestamp(), ExpiresAt).TotalSeconds);

    /// <summary>
    /// Relayed bytes per second this allocation may carry each way (coTURN's <c>max-bps</c>, as granted out of
    /// <c>bps-capacity</c>): client to peers counted as the client's messages, peers to client as the frames sent
    /// to it; what exceeds it within a second is dropped. 0: no limit.
    /// </summary>
    public long BandwidthLimit { get; init; }

    /// <summary>
    /// The canonical ORIGIN (<c>scheme://host:port</c>) of the Allocate that made this allocation, kept only with
    /// <c>check-origin-consistency</c>; null otherwise or when it had none.
    /// </summary>
    public string? Origin { get; init; }

    /// <summary>
    /// coTURN's <c>server-relay</c>: peers need no permission to send to the relayed address (RFC 8656 section 9 asks
    /// for one); for servers that run their own applications behind the relay. False for every client allocation.
    /// </summary>
    public bool AcceptsAnyPeer { get; init; }

    /// <summary>Where drops over <see cref="BandwidthLimit"/> on the way to the client are counted; none when null.</summary>
    internal Diagnostics.ServerCounters? Counters { get; init; }

    /// <summary>True once the allocation has been deleted and its relays closed.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>
    /// Messages received from the client on this allocation's 5-tuple, as coTURN counts them: ChannelData, Send
    /// indications and requests (dropped ones included), and reads on RFC 6062 data connections.
    /// </summary>
    public long ClientPacketsReceived;

    /// <summary>Bytes of <see cref="ClientPacketsReceived"/>, whole messages (headers and padding included).</summary>
    public long ClientBytesReceived;

    /// <summary>Relayed frames sent to the client (ChannelData, Data indications, RFC 6062 data connection writes).</summary>
    public long ClientPacketsSent;

    /// <summary>Bytes of <see cref="ClientPacketsSent"/>, framing included.</summary>
    public long ClientBytesSent;

    /// <summary>
    /// STUN responses sent to the client. Kept apart from <see cref="ClientPacketsSent"/> because the receive loop
    /// counts these while a relay loop counts those; <see cref="Diagnostics.TrafficTotals"/> adds them up.
    /// </summary>
    public long ClientResponsesSent;

    /// <summary>Bytes of <see cref="ClientResponsesSent"/>.</summary>
    public long ClientResponseBytesSent;

    /// <summary>Datagrams received from peers on the relay sockets.</summary>
    public long PeerPacketsReceived;

    /// <summary>Bytes of <see cref="PeerPacketsReceived"/>.</summary>
    public long PeerBytesReceived;

    /// <summary>Datagrams sent to peers.</summary>
    public long PeerPacketsSent;

    /// <summary>Bytes of <see cref="PeerPacketsSent"/>.</summary>
    public long PeerBytesSent;

    /// <summary>Peer datagrams dropped for lack of a permission (RFC 8656 section 10.3) or after expiry.</summary>
    public long PeerPacketsDropped;

    /// <summary>The permissions currently held (some may have expired and await the sweeper).</summary>
    public IReadOnlyList<Permission> Permissions => Volatile.Read(ref _permissions);

    /// <summary>The channel bindings currently held, expired ones included until their 5-minute hold ends.</summary>
    public IReadOnlyList<ChannelBinding> Channels => Volatile.Read(ref _channels);

    /// <summary>
    /// Peer data connections an allocation may have waiting for a ConnectionBind at once, made either way, and its
    /// RFC 6062 Connect attempts under way count against it too (TurnServer's own limit; RFC 6062 sets none): a peer
    /// with a permission can connect from port after port, a client can Connect to port after port and never bind, and
    /// each connection or attempt holds a socket and a descriptor for up to 30 s. Past it, a peer's new connection is
    /// closed at once and a Connect is answered 508.
    /// </summary>
    public const int MaxUnboundPeerConnections = 64;

    /// <summary>Peer data connections (either way) registered and not yet claimed by a ConnectionBind or expired.</summary>
    public int UnboundPeerConnections => Volatile.Read(ref _unboundPeers);

    /// <summary>For a TCP allocation (RFC 6062), where its peer data connections wait for ConnectionBind; else null.</summary>
    internal TcpConnectionTable? TcpConnections { get; init; }

    /// <summary>True for an RFC 6062 TCP allocation.</summary>
    public bool IsTcp => TcpConnections is not null;

    /// <summary>
    /// Whether a request that authenticated as <paramref name="auth"/> may act on this allocation (RFC 8656 section 4,
    /// else 441): one signed by <see cref="KeyUser"/> with <see cref="Key"/>; and, for an allocation made with an
    /// access token, any valid access token (RFC 7635: the authorization server vouches for the client whichever key
    /// it sealed the token with), while a password allocation takes none.
    /// </summary>
    internal bool Admits(in Auth.AuthenticationResult auth) =>
        auth.ViaAccessToken ? ViaAccessToken : string.Equals(KeyUser, auth.Username, StringComparison.Ordinal);

    /// <summary>
    /// Takes the kid and MAC key of a newer access token (RFC 7635), good until <paramref name="expiresAt"/> (Unix
    /// seconds): the requests that follow are signed with them.
    /// </summary>
    internal void Rekey(string kid, byte[] macKey, long expiresAt) => Volatile.Write(ref _credential, new Credential(kid, macKey, expiresAt));

    /// <summary>Gives the allocation a mobility ticket, keeping the one it had as <see cref="PreviousMobilityTicket"/>.</summary>
    internal void IssueMobilityTicket(string ticket)
    {
        PreviousMobilityTicket = MobilityTicket;
        MobilityTicket = ticket;
    }

    /// <summary>Makes <paramref name="fiveTuple"/>, reached through <paramref name="client"/>, the allocation's 5-tuple (RFC 8016).</summary>
    internal void MoveTo(in FiveTuple fiveTuple, ClientConnection client) => Volatile.Write(ref _path, new ClientPath(fiveTuple, client));

    /// <summary>The relay for peers of <paramref name="family"/>, or null when this allocation has none of it (answer 443).</summary>
    public RelayEndpoint? GetRelay(AddressFamily family) => family == AddressFamily.InterNetwork ? RelayV4 : RelayV6;

    /// <summary>
    /// Attaches a bound relay as this allocation's relay of its family; the first attached is advertised as
    /// <see cref="RelayedTransportAddress"/>, a second as <see cref="AdditionalRelayedTransportAddress"/>, at <paramref name="advertised"/>.
    /// </summary>
    internal void AttachRelay(RelayEndpoint relay, TransportAddress advertised)
    {
        if (relay.Family == AddressFamily.InterNetwork)
        {
            RelayV4 = relay;
        }
        else
        {
            RelayV6 = relay;
        }

        if (RelayedTransportAddress.Version == 0)
        {
            RelayedTransportAddress = advertised;
        }
        else
        {
            AdditionalRelayedTransportAddress = advertised;
        }
    }

    /// <summary>
    /// When the relay of <paramref name="family"/> expires, as a <see cref="TimeProvider.GetTimestamp"/> value: a
    /// Refresh with REQUESTED-ADDRESS-FAMILY sets one relay's of a dual allocation (RFC 8656 section 8.1), any other
    /// Refresh both. Meaningful only for a family the allocation has a relay of; for a single-family allocation, the
    /// same as <see cref="ExpiresAt"/>.
    /// </summary>
    public long GetExpiresAt(AddressFamily family)
    {
        lock (_sync)
        {
            return family == AddressFamily.InterNetwork ? _expiresAtV4 : _expiresAtV6;
        }
    }

    /// <summary>Sets the expiry of the allocation and of each of its relays (a Refresh that names no family).</summary>
    internal void SetExpiresAt(long expiresAt)
    {
        lock (_sync)
        {
            _expiresAtV4 = expiresAt;
            _expiresAtV6 = expiresAt;
            Volatile.Write(ref _expiresAt, expiresAt);
        }
    }

    /// <summary>
    /// Sets the expiry of the relay of <paramref name="family"/> alone (RFC 8656 section 8.1, a Refresh with
    /// REQUESTED-ADDRESS-FAMILY); the allocation then expires with the later of its relays. False, changing nothing,
    /// when the allocation has no relay of that family (any more).
    /// </summary>
    internal bool SetExpiresAt(AddressFamily family, long expiresAt)
    {
        lock (_sync)
        {
            if (GetRelay(family) is null)
            {
                return false;
            }

            if (family == AddressFamily.InterNetwork)
            {
                _expiresAtV4 = expiresAt;
            }
            else
            {
                _expiresAtV6 = expiresAt;
            }

            Volatile.Write(ref _expiresAt, Math.Max(RelayV4 is null ? long.MinValue : _expiresAtV4, RelayV6 is null ? long.MinValue : _expiresAtV6));
            return true;
        }
    }

    /// <summary>
    /// Deletes the relay of <paramref name="family"/> from a dual allocation (RFC 8656 section 8.1: "Deleting a single
    /// allocation destroys any permissions or channels associated with that particular allocation; it MUST NOT affect
    /// any permissions or channels associated with allocations for the other address family"): closes it and drops
    /// the permissions and channel bindings of peers of that family. With <paramref name="expiredAt"/> (the sweeper's
    /// now), only if that relay's own lifetime has passed by then, judged under the lock a Refresh takes. Returns the
    /// closed relay, whose port the caller returns to the pool, and the address it was advertised at; null, changing
    /// nothing, when the allocation is not dual (any more), has been released, or the relay was refreshed meanwhile.
    /// </summary>
    internal (RelayEndpoint Relay, TransportAddress Advertised)? DetachRelay(AddressFamily family, long? expiredAt = null)
    {
        RelayEndpoint relay;
        TransportAddress advertised;
        lock (_sync)
        {
            if (_released != 0 || !IsDual
                || (expiredAt is long now && now < (family == AddressFamily.InterNetwork ? _expiresAtV4 : _expiresAtV6)))
            {
                return null;
            }

            if (family == AddressFamily.InterNetwork)
            {
                relay = RelayV4!;
                RelayV4 = null;
                Volatile.Write(ref _expiresAt, _expiresAtV6);
            }
            else
            {
                relay = RelayV6!;
                RelayV6 = null;
                Volatile.Write(ref _expiresAt, _expiresAtV4);
            }

            if (RelayedTransportAddress.AddressFamily == family)
            {
                advertised = RelayedTransportAddress;
                RelayedTransportAddress = AdditionalRelayedTransportAddress;
            }
            else
            {
                advertised = AdditionalRelayedTransportAddress;
            }

            AdditionalRelayedTransportAddress = default;
            Volatile.Write(ref _permissions, Array.FindAll(_permissions, p => p.PeerAddress.AddressFamily != family));
            Volatile.Write(ref _channels, Array.FindAll(_channels, c => c.PeerAddress.AddressFamily != family));
        }

        relay.Dispose();
        return (relay, advertised);
    }

    /// <summary>True when a live permission exists for the IP of <paramref name="peer"/> at time <paramref name="now"/>.</summary>
    public bool HasPermission(in TransportAddress peer, long now)
    {
        foreach (Permission permission in Volatile.Read(ref _permissions))
        {
            if (permission.PeerAddress.HasSameIPAddress(peer))
            {
                return now < permission.ExpiresAt;
            }
        }

        return false;
    }

    /// <summary>The live binding for channel <paramref name="number"/>, or null.</summary>
    public ChannelBinding? FindLiveChannel(ushort number, long now)
    {
        foreach (ChannelBinding channel in Volatile.Read(ref _channels))
        {
            if (channel.Number == number)
            {
                return now < channel.ExpiresAt ? channel : null;
            }
        }

        return null;
    }

    /// <summary>The live binding for the exact peer transport address, or null.</summary>
    public ChannelBinding? FindLiveChannel(in TransportAddress peer, long now)
    {
        foreach (ChannelBinding channel in Volatile.Read(ref _channels))
        {
            if (channel.PeerAddress.Equals(peer))
            {
                return now < channel.ExpiresAt ? channel : null;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="added"/> more permissions fit under <see cref="MaxPermissions"/>.</summary>
    internal bool HasRoomForPermissions(int added) => Volatile.Read(ref _permissions).Length + added <= MaxPermissions;

    /// <summary>
    /// Installs or refreshes the permission for the IP of <paramref name="peer"/> (RFC 8656 section 9.2); false, changing
    /// nothing, when it is new and <see cref="MaxPermissions"/> are held.
    /// </summary>
    internal bool InstallPermission(in TransportAddress peer, long expiresAt)
    {
        lock (_sync)
        {
            Permission? existing = FindPermission(peer);
            if (existing is not null)
            {
                existing.ExpiresAt = expiresAt;
                return true;
            }

            if (_permissions.Length >= MaxPermissions)
            {
                return false;
            }

            Volatile.Write(ref _permissions, [.. _permissions, new Permission(peer, expiresAt)]);
            return true;
        }
    }

    private Permission? FindPermission(in TransportAddress peer)
    {
        foreach (Permission permission in _permissions)
        {
            if (permission.PeerAddress.HasSameIPAddress(peer))
            {
                return permission;
            }
        }

        return null;
    }

    /// <summary>
    /// Creates or refreshes a channel binding and the permission for its peer (RFC 8656 section 12.2). Returns 0, or,
    /// changing nothing: 400 when the number is bound to another peer or the peer to another number, live or within
    /// the 5 minutes after expiry during which neither may be rebound (section 12); 508 when a new binding or
    /// permission would pass <see cref="MaxChannels"/> or <see cref="MaxPermissions"/>; 443 when the allocation has
    /// no relay of the peer's family.
    /// </summary>
    internal int BindChannel(ushort number, in TransportAddress peer, SocketAddress peerSocketAddress, long channelExpiresAt, long permissionExpiresAt)
    {
        lock (_sync)
        {
            if (GetRelay(peer.AddressFamily) is null)
            {
                return StunErrorCodes.PeerAddressFamilyMismatch; // that family's relay was deleted since the request's check
            }

            foreach (ChannelBinding channel in _channels)
            {
                bool sameNumber = channel.Number == number;
                bool samePeer = channel.PeerAddress.Equals(peer);
                if (sameNumber && samePeer)
                {
                    channel.ExpiresAt = channelExpiresAt;
                    InstallPermission(peer, permissionExpiresAt);
                    return 0;
                }

                if (sameNumber || samePeer)
                {
                    return StunErrorCodes.BadRequest;
                }
            }

            if (_channels.Length >= MaxChannels || !InstallPermission(peer, permissionExpiresAt))
            {
                return StunErrorCodes.InsufficientCapacity;
            }

            Volatile.Write(ref _channels, [.. _channels, new ChannelBinding(number, peer, peerSocketAddress, channelExpiresAt)]);
            return 0;
        }
    }

    /// <summary>
    /// Marks <paramref name="peer"/> as having a connection being set up or open; false if it already has one
    /// (RFC 6062 section 5.2: 446 Connection Already Exists).
    /// </summary>
    internal bool TryReserveTcpPeer(in TransportAddress peer)
    {
        lock (_sync)
        {
            return _tcpPeers.Add(peer);
        }
    }

    /// <summary>
    /// Counts a Connect attempt starting; false, counting nothing, when attempts under way and peer connections
    /// waiting for a ConnectionBind already make <see cref="MaxUnboundPeerConnections"/>.
    /// </summary>
    internal bool TryBeginConnect()
    {
        if (Interlocked.Increment(ref _pendingConnects) + UnboundPeerConnections <= MaxUnboundPeerConnections)
        {
            return true;
        }

        Interlocked.Decrement(ref _pendingConnects);
        return false;
    }

    /// <summary>Counts a Connect attempt, begun with <see cref="TryBeginConnect"/>, as ended.</summary>
    internal void EndConnect() => Interlocked.Decrement(ref _pendingConnects);

    /// <summary>
    /// Counts a peer data connection about to wait for its ConnectionBind; false, counting nothing, when
    /// <see cref="MaxUnboundPeerConnections"/> wait already.
    /// </summary>
    internal bool TryAddUnboundPeer()
    {
        if (Interlocked.Increment(ref _unboundPeers) <= MaxUnboundPeerConnections)
        {
            return true;
        }

        Interlocked.Decrement(ref _unboundPeers);
        return false;
    }

    /// <summary>Counts a waiting peer data connection claimed or closed.</summary>
    internal void UnboundPeerRemoved() => Interlocked.Decrement(ref _unboundPeers);

    /// <summary>Forgets <paramref name="peer"/>'s connection once it has failed or closed.</summary>
    public void ReleaseTcpPeer(in TransportAddress peer)
    {
        lock (_sync)
        {
            _tcpPeers.Remove(peer);
        }
    }

    /// <summary>
    /// A peer connected to this allocation's TCP relayed address (RFC 6062 section 5.3). Without a permission for the
    /// peer's IP the connection is closed at once; otherwise it waits for a ConnectionBind under a new CONNECTION-ID and
    /// the client is told with a ConnectionAttempt indication.
    /// </summary>
    public void AcceptPeerConnection(IPeerDataConnection peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        TransportAddress address = peer.PeerAddress;
        if (TcpConnections is null || IsReleased || !HasPermission(address, _time.GetTimestamp()) || !TryReserveTcpPeer(address))
        {
            PeerPacketsDropped++;
            peer.Dispose();
            return;
        }

        if (!TcpConnections.TryRegister(this, peer, out uint connectionId))
        {
            ReleaseTcpPeer(address);
            PeerPacketsDropped++;
            peer.Dispose();
            return;
        }

        Span<byte> buffer = stackalloc byte[128];
        var indication = new StunMessageWriter(buffer, StunMethod.ConnectionAttempt, StunMessageClass.Indication, TransactionId.NewRandom());
        indication.WriteXorAddress(StunAttributeType.XorPeerAddress, address);
        indication.WriteUInt32(StunAttributeType.ConnectionId, connectionId);
        if (_fingerprint)
        {
            indication.WriteFingerprint();
        }

        Client.Send(indication.Written);
    }

    /// <summary>
    /// Drops permissions that have expired and channel bindings whose 5-minute hold after expiry has passed.
    /// Called by the sweeper only.
    /// </summary>
    internal void RemoveExpired(long now, long channelHoldTicks)
    {
        lock (_sync)
        {
            Permission[] permissions = _permissions;
            if (Array.Exists(permissions, p => now >= p.ExpiresAt))
            {
                Volatile.Write(ref _permissions, Array.FindAll(permissions, p => now < p.ExpiresAt));
            }

            ChannelBinding[] channels = _channels;
            if (Array.Exists(channels, c => now >= c.ExpiresAt + channelHoldTicks))
            {
                Volatile.Write(ref _channels, Array.FindAll(channels, c => now < c.ExpiresAt + channelHoldTicks));
            }
        }
    }

    /// <summary>Marks the allocation released and closes its relays; true only for the first caller.</summary>
    internal bool Release()
    {
        // Under the lock DetachRelay takes, so a relay is never closed, nor its port returned, by both.
        lock (_sync)
        {
            if (_released != 0)
            {
                return false;
            }

            Volatile.Write(ref _released, 1);
        }

        RelayV4?.Dispose();
        RelayV6?.Dispose();
        return true;
    }

    /// <summary>
    /// Relays a datagram a relay socket received from a peer to the client (RFC 8656 sections 11.3 and 12.6):
    /// drops it unless the allocation lives and the peer's IP has a permission; sends ChannelData if the peer has a live channel, else a Data
    /// indication. The payload sits in <paramref name="buffer"/> at <paramref name="payloadOffset"/>, which must be at
    /// least <see cref="PeerDataHeadroom"/>, with <see cref="PeerDataTailroom"/> bytes free after it; the header is
    /// written in front of it, so nothing is copied. Returns false when the datagram was dropped.
    /// </summary>
    public bool ForwardToClient(Span<byte> buffer, int payloadOffset, int payloadLength, in TransportAddress peer)
    {
        PeerPacketsReceived++;
        PeerBytesReceived += payloadLength;
        long now = _time.GetTimestamp();
        if (now >= ExpiresAt || IsReleased || (!AcceptsAnyPeer && !HasPermission(peer, now)))
        {
            PeerPacketsDropped++;
            return false;
        }

        ClientPath path = Volatile.Read(ref _path);

        ReadOnlySpan<byte> frame;
        ChannelBinding? channel = FindLiveChannel(peer, now);
        if (channel is not null)
        {
            int start = payloadOffset - ChannelData.HeaderLength;
            ChannelData.WriteHeader(buffer[start..], channel.Number, payloadLength);
            int length = ChannelData.HeaderLength + payloadLength;
            if (path.FiveTuple.IsStream)
            {
                int padded = ChannelData.GetStreamFrameLength(payloadLength);
                buffer.Slice(start + length, padded - length).Clear();
                length = padded;
            }

            frame = buffer.Slice(start, length);
        }
        else
        {
            int start = WriteDataIndication(buffer, payloadOffset, payloadLength, peer, out int length);
            frame = buffer.Slice(start, length);
        }

        if (BandwidthLimit > 0 && !Admit(ref _toClientSecond, ref _toClientBytes, frame.Length, now))
        {
            PeerPacketsDropped++;
            Counters?.Drop(Diagnostics.DropReason.BandwidthLimit);
            return false;
        }

        if (!path.Connection.Send(frame))
        {
            PeerPacketsDropped++; // and counted by the connection under its reason
            return false;
        }

        ClientPacketsSent++;
        ClientBytesSent += frame.Length;
        return true;
    }

    /// <summary>
    /// Counts <paramref name="bytes"/> from the client against <see cref="BandwidthLimit"/> (call only when it is set);
    /// false when they would exceed it this second, and the message is to be dropped.
    /// </summary>
    internal bool AdmitFromClient(int bytes, long now) => Admit(ref _fromClientSecond, ref _fromClientBytes, bytes, now);

    /// <summary>
    /// One direction's window: a fixed one-second window, as coTURN counts, reset when the second changes. A single
    /// receive loop writes each direction, so plain fields suffice.
    /// </summary>
    private bool Admit(ref long second, ref long used, int bytes, long now)
    {
        long current = now / _time.TimestampFrequency;
        if (current != second)
        {
            second = current;
            used = 0;
        }

        if (used + bytes > BandwidthLimit)
        {
            return false;
        }

        used += bytes;
        return true;
    }

    /// <summary>Writes a Data indication around the payload in place; returns where it starts and, in <paramref name="length"/>, its length.</summary>
    private int WriteDataIndication(Span<byte> buffer, int payloadOffset, int payloadLength, in TransportAddress peer, out int length)
    {
        int headerLength = StunConstants.HeaderLength + StunConstants.AttributeHeaderLength + StunAddressCodec.GetValueLength(peer) + StunConstants.AttributeHeaderLength;
        int start = payloadOffset - headerLength;

        // The writer writes the header and XOR-PEER-ADDRESS, then the DATA attribute header right before the payload
        // already in place; it only clears the padding after the payload.
        Span<byte> transactionId = stackalloc byte[StunConstants.TransactionIdLength];
        Random.Shared.NextBytes(transactionId);
        var writer = new StunMessageWriter(buffer[start..], StunMethod.Data, StunMessageClass.Indication, TransactionId.Read(transactionId));
        writer.WriteXorAddress(StunAttributeType.XorPeerAddress, peer);
        writer.AppendAttribute((ushort)StunAttributeType.Data, payloadLength);
        if (_fingerprint)
        {
            writer.WriteFingerprint();
        }

        length = writer.Length;
        return start;
    }

    /// <summary>Who signs and the key, replaced as one.</summary>
    private sealed record Credential(string? User, byte[]? Key, long ExpiresAt);

    /// <summary>A 5-tuple and its connection, replaced as one so readers never see one without the other.</summary>
    private sealed class ClientPath(FiveTuple fiveTuple, ClientConnection connection)
    {
        // Fields, not properties: the relay path reads FiveTuple.IsStream in place, without copying the 5-tuple.
        public readonly FiveTuple FiveTuple = fiveTuple;

        public readonly ClientConnection Connection = connection;
    }
}
