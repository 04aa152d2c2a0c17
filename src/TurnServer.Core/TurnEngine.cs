using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Handlers;
using TurnServer.Core.Peers;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core;

/// <summary>
/// The protocol engine: everything a listener does with a packet from a client, with no sockets of its own.
/// <see cref="ProcessStun"/> answers STUN requests and relays Send indications; <see cref="ProcessChannelData"/>
/// relays ChannelData. Both are safe to call from several receive loops at once and never throw for bad input:
/// a malformed packet is dropped and counted in <see cref="Counters"/>.
/// </summary>
public sealed class TurnEngine
{
    /// <summary>Most comprehension-required unknown attributes listed in one 420 answer.</summary>
    private const int MaxUnknownAttributes = 16;

    private readonly TurnContext _ctx;

    /// <summary>Creates the engine.</summary>
    /// <param name="options">Protocol settings.</param>
    /// <param name="relayFactory">Binds relay sockets.</param>
    /// <param name="credentials">Where long-term keys come from (ignored when authentication is off).</param>
    /// <param name="observer">Told when allocations start and end; may be null.</param>
    /// <param name="time">The clock; <see cref="TimeProvider.System"/> in production.</param>
    /// <param name="minPort">Lowest relay port (coTURN's <c>min-port</c>).</param>
    /// <param name="maxPort">Highest relay port (coTURN's <c>max-port</c>).</param>
    /// <param name="counters">Counters shared with the transports; a new set when null.</param>
    public TurnEngine(
        TurnOptions options,
        IRelayEndpointFactory relayFactory,
        IReadOnlyList<ICredentialSource> credentials,
        IAllocationObserver? observer,
        TimeProvider time,
        int minPort,
        int maxPort,
        ServerCounters? counters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Counters = counters ?? new ServerCounters();
        Ports = new RelayPortPool(minPort, maxPort);
        Allocations = new AllocationTable(Ports, options.UserQuota, options.TotalQuota, observer, Counters, options.MaxBps, options.BpsCapacity);
        Reservations = new ReservationTable(Ports, time);
        Transactions = new TransactionCache(time);
        LongTermCredentialAuthenticator? authenticator = options.RequireAuthentication
            ? new LongTermCredentialAuthenticator(options.Realm, new NonceService(time, options.NonceLifetimeSeconds), credentials, Counters, options.OAuthServerName, time)
            : null;
        TcpConnections = new TcpConnectionTable(time);
        _ctx = new TurnContext(options, time, Allocations, Ports, Reservations, Transactions, authenticator, relayFactory, Counters, TcpConnections);
    }

    /// <summary>The live allocations.</summary>
    public AllocationTable Allocations { get; }

    /// <summary>The relay port pool.</summary>
    public RelayPortPool Ports { get; }

    /// <summary>Ports held by RESERVATION-TOKEN.</summary>
    public ReservationTable Reservations { get; }

    /// <summary>Recent responses kept for retransmissions.</summary>
    public TransactionCache Transactions { get; }

    /// <summary>RFC 6062 peer connections waiting for a ConnectionBind.</summary>
    public TcpConnectionTable TcpConnections { get; }

    /// <summary>Drop, request and authentication counters.</summary>
    public ServerCounters Counters { get; }

    /// <summary>The settings the engine runs with.</summary>
    public TurnOptions Options => _ctx.Options;

    /// <summary>
    /// Which peers clients may reach (RFC 8656 section 21.3). Starts as <see cref="TurnOptions.PeerPolicy"/>; setting
    /// it (a configuration reload, a user database's peer lists) takes effect for the next request.
    /// </summary>
    public PeerAddressPolicy PeerPolicy
    {
        get => _ctx.PeerPolicy;
        set => _ctx.PeerPolicy = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>True once <see cref="BeginDrain"/> was called.</summary>
    public bool IsDraining => _ctx.Draining;

    /// <summary>
    /// Replaces where long-term keys come from (a configuration reload). Allocations keep the key they were created
    /// with. Does nothing when authentication is off.
    /// </summary>
    public void ReplaceCredentialSources(IReadOnlyList<ICredentialSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (_ctx.Authenticator is not null)
        {
            _ctx.Authenticator.Sources = sources;
        }
    }

    /// <summary>
    /// Starts draining (coTURN's SIGUSR1): every Allocate from now on is answered 508 (Insufficient Capacity), while
    /// existing allocations are refreshed, relay and end as usual. There is no way back but a restart.
    /// </summary>
    public void BeginDrain() => _ctx.Draining = true;

    /// <summary>
    /// RFC 5780 NAT behaviour discovery for Binding requests over UDP (OTHER-ADDRESS, RESPONSE-ORIGIN,
    /// CHANGE-REQUEST), or null, the default, when it is off: then a CHANGE-REQUEST draws 420. Set before the
    /// listeners start.
    /// </summary>
    public NatBehaviorDiscovery? NatDiscovery
    {
        get => _ctx.NatDiscovery;
        set => _ctx.NatDiscovery = value;
    }

    /// <summary>
    /// Told of every STUN request after it was handled, with the answer (empty when none was sent); null, the
    /// default, costs the request path one field read. Set before the listeners start (coTURN's <c>Verbose</c>).
    /// </summary>
    public StunRequestTrace? RequestTrace { get; set; }

    /// <summary>
    /// Handles one message from a client that <paramref name="kind"/> (its first byte, RFC 7983) says is STUN or
    /// ChannelData: ChannelData is relayed (<see cref="ProcessChannelData"/>), STUN handled (<see cref="ProcessStun"/>).
    /// Returns the answer's length in <paramref name="response"/>, 0 when nothing is to be sent, or -1 for any other
    /// kind, which the caller drops and counts as its transport sees fit.
    /// </summary>
    /// <param name="kind">What the caller's classification found; the packet is not classified again.</param>
    /// <param name="packet">Exactly one message.</param>
    /// <param name="fiveTuple">Where it came from and arrived.</param>
    /// <param name="connections">Makes the path back to the client if an allocation is created.</param>
    /// <param name="scratch">The calling loop's scratch addresses.</param>
    /// <param name="response">Where to write the answer (at least 1,500 bytes).</param>
    public int ProcessMessage(PacketKind kind, ReadOnlySpan<byte> packet, in FiveTuple fiveTuple, IClientConnectionSource connections, SendScratch scratch, Span<byte> response)
    {
        switch (kind)
        {
            case PacketKind.ChannelData:
                ProcessChannelData(packet, fiveTuple);
                return 0;
            case PacketKind.Stun:
                return ProcessStun(packet, fiveTuple, connections, scratch, response);
            default:
                return -1;
        }
    }

    /// <summary>
    /// Handles one STUN message from a client. Requests are answered in <paramref name="response"/> (size it for
    /// at least 1,500 bytes); returns the answer's length, or 0 when nothing is to be sent (indications, drops).
    /// </summary>
    /// <param name="packet">Exactly one STUN message.</param>
    /// <param name="fiveTuple">Where it came from and arrived.</param>
    /// <param name="connections">Makes the path back to the client if an allocation is created.</param>
    /// <param name="scratch">The calling loop's scratch addresses.</param>
    /// <param name="response">Where to write the answer.</param>
    public int ProcessStun(ReadOnlySpan<byte> packet, in FiveTuple fiveTuple, IClientConnectionSource connections, SendScratch scratch, Span<byte> response)
    {
        StunParseResult parsed = StunMessageReader.TryParse(packet, out StunMessageReader message);
        if (parsed != StunParseResult.Success)
        {
            Counters.Drop(ToDropReason(parsed));
            return 0;
        }

        Counters.Processed();
        switch (message.Class)
        {
            case StunMessageClass.Request:
                int length = HandleRequest(message, fiveTuple, connections, response);
                CountRequest(fiveTuple, packet.Length, length);
                RequestTrace?.Invoke(message, fiveTuple, response[..length]);
                return length;
            case StunMessageClass.Indication when message.Method == StunMethod.Send && !_ctx.Options.StunOnly:
                SendIndicationHandler.Handle(_ctx, message, fiveTuple, scratch);
                return 0;
            default:
                Counters.Drop(DropReason.StunUnexpectedClass);
                return 0;
        }
    }

    /// <summary>
    /// Relays one ChannelData message from a client to its peer (RFC 8656 section 12.6): finds the allocation by
    /// 5-tuple and the binding by channel number, checks both are live and the peer has a permission, and sends the
    /// payload from the relay socket. Returns false, counting why, when the message was dropped.
    /// </summary>
    public bool ProcessChannelData(ReadOnlySpan<byte> packet, in FiveTuple fiveTuple)
    {
        if (!ChannelData.TryParse(packet, out ushort number, out int length))
        {
            Counters.Drop(DropReason.ChannelDataMalformed);
            return false;
        }

        if (!Allocations.TryGet(fiveTuple, out Allocation allocation))
        {
            Counters.Drop(DropReason.NoAllocation);
            return false;
        }

        allocation.ClientPacketsReceived++;
        allocation.ClientBytesReceived += packet.Length;
        long now = _ctx.Now;
        ChannelBinding? channel = allocation.FindLiveChannel(number, now);
        if (channel is null || now >= allocation.ExpiresAt)
        {
            Counters.Drop(DropReason.ChannelNotBound);
            return false;
        }

        if (!allocation.HasPermission(channel.PeerAddress, now))
        {
            Counters.Drop(DropReason.NoPermission);
            return false;
        }

        if (allocation.BandwidthLimit > 0 && !allocation.AdmitFromClient(packet.Length, now))
        {
            Counters.Drop(DropReason.BandwidthLimit);
            return false;
        }

        ReadOnlySpan<byte> payload = packet.Slice(ChannelData.HeaderLength, length);
        // The relay is gone only if a Refresh just deleted its family, and the channel with it (RFC 8656 section 8.1).
        if (allocation.GetRelay(channel.PeerSocketAddress.Family) is not { } relay)
        {
            Counters.Drop(DropReason.ChannelNotBound);
            return false;
        }

        if (!relay.SendTo(payload, channel.PeerSocketAddress))
        {
            Counters.Drop(DropReason.SendFailed);
            return false;
        }

        allocation.PeerPacketsSent++;
        allocation.PeerBytesSent += length;
        return true;
    }

    /// <summary>Relay traffic of all allocations, ended and live, as of now.</summary>
    public TrafficTotals GetTrafficTotals() => Allocations.GetTrafficTotals();

    /// <summary>
    /// Frees what has expired: allocations past their lifetime (closing their relays and returning their ports),
    /// permissions, channel bindings past their 5-minute hold, reservations and cached responses. Call about once
    /// a second; no timer exists per object.
    /// </summary>
    public void Sweep()
    {
        long now = _ctx.Now;
        long channelHold = _ctx.SecondsToTicks(300);
        foreach (Allocation allocation in Allocations.All)
        {
            if (now >= allocation.ExpiresAt)
            {
                Allocations.Remove(allocation, AllocationEndReason.Expired);
            }
            else
            {
                Allocations.RemoveExpiredRelays(allocation, now);
                allocation.RemoveExpired(now, channelHold);
            }
        }

        Reservations.RemoveExpired(now);
        Transactions.RemoveExpired(now);
        TcpConnections.RemoveExpired(now);
        Ports.ReleaseQuarantined(now);
    }

    /// <summary>Deletes every allocation and reservation (shutdown): sockets closed, ports returned.</summary>
    public void Shutdown()
    {
        foreach (Allocation allocation in Allocations.All)
        {
            Allocations.Remove(allocation, AllocationEndReason.Shutdown);
        }

        Reservations.Clear();
    }

    /// <summary>
    /// Counts a request and its answer on the allocation the 5-tuple has after handling (so an Allocate counts, a
    /// Refresh that deleted it does not): coTURN's traffic counters include control messages, and dashboards built
    /// on them should read the same here. Atomic, because RFC 6062 data connections add to the same counters.
    /// </summary>
    private void CountRequest(in FiveTuple fiveTuple, int requestLength, int responseLength)
    {
        if (!Allocations.TryGet(fiveTuple, out Allocation allocation))
        {
            return;
        }

        Interlocked.Increment(ref allocation.ClientPacketsReceived);
        Interlocked.Add(ref allocation.ClientBytesReceived, requestLength);
        if (responseLength > 0)
        {
            Interlocked.Increment(ref allocation.ClientResponsesSent);
            Interlocked.Add(ref allocation.ClientResponseBytesSent, responseLength);
        }
    }

    private int HandleRequest(in StunMessageReader request, in FiveTuple fiveTuple, IClientConnectionSource connections, Span<byte> response)
    {
        Counters.Request();
        bool binding = request.Method == StunMethod.Binding;
        if (binding ? _ctx.Options.NoStun : _ctx.Options.StunOnly)
        {
            Counters.Drop(DropReason.StunIgnoredByConfiguration);
            return 0;
        }

        if (binding)
        {
            Counters.BindingRequest();
        }
        else if (Transactions.TryGet(fiveTuple, request.TransactionId, request.Method, out byte[] cached))
        {
            cached.CopyTo(response);
            return cached.Length;
        }

        var state = new RequestState { FiveTuple = fiveTuple, Connections = connections };
        Allocation? existing = Allocations.TryGet(fiveTuple, out Allocation found) ? found : null;
        if (existing is not null && _ctx.Now >= existing.ExpiresAt)
        {
            // Expired but not yet swept (the sweep runs once a second): it is gone (RFC 8656 section 7), so a Refresh
            // gets 437 and an Allocate makes a new allocation rather than 437.
            Allocations.Remove(existing, AllocationEndReason.Expired);
            existing = null;
        }

        state.Allocation = existing;
        Allocation? onExisting = request.Method == StunMethod.Allocate ? null : existing;
        bool authenticate = _ctx.Authenticator is not null && (!binding || _ctx.Options.SecureStun);
        state.Seal = new ResponseSeal(_ctx.Software, null, false, _ctx.Options.Fingerprint || request.HasFingerprint);
        if (authenticate)
        {
            state.Auth = _ctx.Authenticator!.Authenticate(request, fiveTuple.ClientAddress, existing?.KeyUser, existing?.Key, existing?.KeyExpiresAt ?? long.MaxValue);
            if (!state.Auth.Succeeded)
            {
                return Finish(request, state.Auth.ErrorCode, ref state, response, binding);
            }

            state.Seal = new ResponseSeal(_ctx.Software, state.Auth.Key, state.Auth.UseSha256, _ctx.Options.Fingerprint || request.HasFingerprint);

            // RFC 8656 section 5: a non-Allocate request on an allocation must come from its user, else 441 Wrong
            // Credentials (an Allocate there is 437 whoever sends it, section 7.2); an allocation made with an access
            // token signs on with the newest token's key.
            if (onExisting is not null && !onExisting.Admits(state.Auth))
            {
                Counters.AuthFailed(AuthFailureReason.WrongCredentials);
                return Finish(request, StunErrorCodes.WrongCredentials, ref state, response, binding);
            }

            if (onExisting is not null && state.Auth.ViaAccessToken)
            {
                onExisting.Rekey(state.Auth.Username!, state.Auth.Key!, state.Auth.KeyExpiresAt);
            }
        }

        // coTURN's check-origin-consistency: the requests of an allocation keep the ORIGIN its Allocate had (441).
        if (onExisting is not null && _ctx.Options.CheckOriginConsistency && !Origins.Consistent(onExisting.Origin, request))
        {
            Counters.AuthFailed(AuthFailureReason.WrongCredentials);
            return Finish(request, StunErrorCodes.WrongCredentials, ref state, response, binding);
        }

        // RFC 8489 section 6.3.1: "If the request contains one or more unknown comprehension-required attributes, the
        // server replies with an error response with an error code of 420 (Unknown Attribute) and includes an
        // UNKNOWN-ATTRIBUTES attribute".
        Span<ushort> unknown = stackalloc ushort[MaxUnknownAttributes];
        int unknownCount = request.GetUnknownComprehensionRequired(unknown);
        if (binding && unknownCount > 0 && BindingRequestHandler.UsesNatDiscovery(_ctx, fiveTuple))
        {
            // CHANGE-REQUEST is understood where RFC 5780 is served, and only there (RFC 5780 section 6.1).
            unknownCount = Remove(unknown[..unknownCount], (ushort)StunAttributeType.ChangeRequest);
        }

        if (unknownCount > 0 && _ctx.Authenticator?.OAuthServerName is not null)
        {
            unknownCount = Remove(unknown[..unknownCount], (ushort)StunAttributeType.AccessToken);
        }

        if (unknownCount > 0)
        {
            return WriteResponse(request, StunErrorCodes.UnknownAttribute, ref state, response, unknown[..unknownCount], binding);
        }

        var writer = new StunMessageWriter(response, request.Method, StunMessageClass.SuccessResponse, request.TransactionId);
        int error = request.Method switch
        {
            StunMethod.Binding => BindingRequestHandler.Handle(_ctx, ref state, request, ref writer),
            StunMethod.Allocate => AllocateRequestHandler.Handle(_ctx, ref state, request, ref writer),
            StunMethod.Refresh => RefreshRequestHandler.Handle(_ctx, ref state, request, ref writer),
            StunMethod.CreatePermission => CreatePermissionRequestHandler.Handle(_ctx, ref state, request),
            StunMethod.ChannelBind => ChannelBindRequestHandler.Handle(_ctx, ref state, request),
            StunMethod.Connect => ConnectRequestHandler.Handle(_ctx, ref state, request),
            StunMethod.ConnectionBind => ConnectionBindRequestHandler.Handle(_ctx, ref state, request),

            // RFC 8489 section 6.3.1: a request of a method the server does not know draws 400.
            _ => StunErrorCodes.BadRequest,
        };

        if (error == ConnectRequestHandler.Deferred)
        {
            return 0; // answered when the TCP connection attempt ends (RFC 6062 section 5.2)
        }

        if (error == 0)
        {
            state.Seal.Apply(ref writer);
            if (binding)
            {
                Counters.BindingAnswered(success: true);
                if (state.ResponseOrigin is { } origin && origin != fiveTuple.ServerAddress)
                {
                    // CHANGE-REQUEST: the answer leaves from another of the server's addresses, not this socket.
                    if (!_ctx.NatDiscovery!.SendFrom(origin, fiveTuple.ClientAddress, writer.Written))
                    {
                        Counters.Drop(DropReason.SendFailed);
                    }

                    return 0;
                }
            }
            else
            {
                Transactions.Add(fiveTuple, request.TransactionId, writer.Written);
            }

            return writer.Length;
        }

        return Finish(request, error, ref state, response, binding);
    }

    private int Finish(in StunMessageReader request, int error, ref RequestState state, Span<byte> response, bool binding)
    {
        int length = WriteResponse(request, error, ref state, response, [], binding);

        // Errors to authenticated requests are cached too: a retransmitted Refresh(0) must not turn into a 437. Under
        // no-auth only where the 5-tuple has an allocation: anyone may send those requests, from spoofed sources too.
        if (!binding && state.Auth.Succeeded
            && (_ctx.Authenticator is null ? Allocations.TryGet(state.FiveTuple, out _) : state.Auth.Key is not null))
        {
            Transactions.Add(state.FiveTuple, request.TransactionId, response[..length]);
        }

        return length;
    }

    private int WriteResponse(in StunMessageReader request, int error, ref RequestState state, Span<byte> response, scoped ReadOnlySpan<ushort> unknown, bool binding)
    {
        var writer = new StunMessageWriter(response, request.Method, StunMessageClass.ErrorResponse, request.TransactionId);
        writer.WriteErrorCode(error);
        switch (error)
        {
            case StunErrorCodes.Unauthenticated or StunErrorCodes.StaleNonce:
                // RFC 8489 section 9.2.4: 401 and 438 carry REALM and a fresh NONCE so the client can (re)try.
                writer.WriteText(StunAttributeType.Realm, _ctx.Authenticator!.Realm);
                writer.WriteText(StunAttributeType.Nonce, _ctx.Authenticator.CreateNonce(state.FiveTuple.ClientAddress));
                if (_ctx.Authenticator.OAuthServerName is { } serverName)
                {
                    // RFC 7635 section 6.1: tells the client to get a token from the authorization server for this server.
                    writer.WriteText(StunAttributeType.ThirdPartyAuthorization, serverName);
                }

                break;
            case StunErrorCodes.UnknownAttribute:
                writer.WriteUnknownAttributes(unknown);
                break;
            case StunErrorCodes.TryAlternate when state.AlternateServer is not null:
                writer.WriteAddress(StunAttributeType.AlternateServer, TransportAddress.FromEndPoint(state.AlternateServer));
                break;
        }

        state.Seal.Apply(ref writer);
        if (binding)
        {
            Counters.BindingAnswered(success: false);
        }

        return writer.Length;
    }

    /// <summary>Removes <paramref name="type"/> from <paramref name="types"/> (no repeats); returns the new count.</summary>
    private static int Remove(Span<ushort> types, ushort type)
    {
        int index = types.IndexOf(type);
        if (index < 0)
        {
            return types.Length;
        }

        types[(index + 1)..].CopyTo(types[index..]);
        return types.Length - 1;
    }

    private static DropReason ToDropReason(StunParseResult result) => result switch
    {
        StunParseResult.TooShort => DropReason.StunTooShort,
        StunParseResult.BadLength => DropReason.StunBadLength,
        StunParseResult.BadAttribute or StunParseResult.AttributeAfterFingerprint => DropReason.StunBadAttribute,
        StunParseResult.BadFingerprint => DropReason.StunBadFingerprint,
        _ => DropReason.StunBadHeader,
    };
}
