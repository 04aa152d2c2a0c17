using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>Allocate (RFC 8656 section 7.2; RFC 6156 and RFC 8656 section 7.1 for address families).</summary>
internal static class AllocateRequestHandler
{
    private const byte ProtocolUdp = 17;
    private const byte ProtocolTcp = 6;
    // Enough tries that a pool mostly held by other programs still finds a free port; each failed port is
    // quarantined, so the odds improve with every try and for every later Allocate.
    private const int BindAttempts = 32;

    /// <summary>
    /// Creates the allocation and writes XOR-RELAYED-ADDRESS (two for a dual allocation, or ADDRESS-ERROR-CODE), LIFETIME,
    /// RESERVATION-TOKEN if one was made, and XOR-MAPPED-ADDRESS. Returns 0, or the error code to answer: 300 (alternate-server,
    /// target in <see cref="RequestState.AlternateServer"/>), 400, 405 (MOBILITY-TICKET without <c>mobility</c>), 437, 440, 442, 486, or 508
    /// (draining, no free port, bad token). With an empty MOBILITY-TICKET and <c>mobility</c>, also writes the allocation's ticket (RFC 8016).
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request, ref StunMessageWriter response)
    {
        // Step 2: "the server checks if the 5-tuple is currently in use by an existing allocation. If yes, the server
        // rejects the request with a 437 (Allocation Mismatch) error." Retransmissions were answered from the
        // transaction cache before this point; one the cache did not keep (it was full) is still a retransmission of
        // the request that made the allocation, and gets its success again, rebuilt from the allocation (RFC 8489
        // section 6.3.4), as coTURN answers it: a 437 would make the client give up an allocation it holds. (A RESERVATION-TOKEN
        // the first answer carried is not repeated: the reservation table does not record who holds a token.)
        if (state.Allocation is { } existing)
        {
            if (existing.CreatedBy != request.TransactionId || !existing.Admits(state.Auth))
            {
                return StunErrorCodes.AllocationMismatch;
            }

            WriteSuccess(ref response, existing, (uint)Math.Max(0, existing.SecondsToExpiry), newToken: 0, state.FiveTuple.ClientAddress);
            return 0;
        }

        // coTURN's alternate-server and tls-alternate-server: send every Allocate elsewhere with 300 Try Alternate
        // (RFC 8489 section 10). Before the drain check, as in coTURN: a draining server still knows where to send one.
        if (ctx.NextAlternateServer(state.FiveTuple) is { } alternate)
        {
            state.AlternateServer = alternate;
            return StunErrorCodes.TryAlternate;
        }

        // Draining (SIGUSR1): no new allocations. RFC 8656 section 7.2 answers a server that cannot allocate with
        // 508 (Insufficient Capacity), which clients treat as "try another server". coTURN's drain (its PR #1529)
        // answers 403 (Forbidden) instead, a refusal that does not say another server may do.
        if (ctx.Draining)
        {
            return StunErrorCodes.InsufficientCapacity;
        }

        // Step 3: "checks if the request contains a REQUESTED-TRANSPORT attribute. If the REQUESTED-TRANSPORT attribute
        // is not included or is malformed, the server rejects the request with a 400 (Bad Request) error. Otherwise,
        // if the attribute indicates an unsupported transport protocol, the server rejects the request with a 442".
        if (!request.TryGetLeadingByte(StunAttributeType.RequestedTransport, out byte protocol))
        {
            return StunErrorCodes.BadRequest;
        }

        bool tcp = protocol == ProtocolTcp;
        if ((tcp && !ctx.Options.AllowTcpRelay) || (!tcp && (protocol != ProtocolUdp || !ctx.Options.AllowUdpRelay)))
        {
            return StunErrorCodes.UnsupportedTransportProtocol;
        }

        int mobilityError = Mobility.CheckAllocate(ctx, request, tcp, out bool mobile);
        if (mobilityError != 0)
        {
            return mobilityError;
        }

        // Step 4: DONT-FRAGMENT is supported: the relay socket gets the DF bit.
        bool dontFragment = request.HasAttribute(StunAttributeType.DontFragment);

        bool hasToken = request.HasAttribute(StunAttributeType.ReservationToken);
        bool hasEvenPort = request.HasAttribute(StunAttributeType.EvenPort);
        bool hasFamily = request.HasAttribute(StunAttributeType.RequestedAddressFamily);
        bool hasAdditional = request.HasAttribute(StunAttributeType.AdditionalAddressFamily);

        // RFC 6062 section 5.1: "If the client connection transport is not TCP or TLS, the server MUST reject the
        // request with a 400 (Bad Request) error. If the request contains the DONT-FRAGMENT, EVEN-PORT, or
        // RESERVATION-TOKEN attribute, the server MUST reject the request with a 400 (Bad Request) error." Dual TCP
        // allocations are not defined, so ADDITIONAL-ADDRESS-FAMILY is refused too.
        if (tcp && (!state.FiveTuple.IsStream || dontFragment || hasEvenPort || hasToken || hasAdditional))
        {
            return StunErrorCodes.BadRequest;
        }

        // Step 5: "If the request contains a RESERVATION-TOKEN attribute ... and an EVEN-PORT attribute ... 400";
        // section 7.2 also forbids RESERVATION-TOKEN with REQUESTED-ADDRESS-FAMILY, and both family attributes at once.
        if ((hasToken && (hasEvenPort || hasFamily || hasAdditional)) || (hasFamily && hasAdditional))
        {
            return StunErrorCodes.BadRequest;
        }

        // RFC 8656 section 7.2 takes IPv4 when the request names no family (and a dual allocation starts with IPv4);
        // allocation-default-address-family may say otherwise, as in coTURN.
        AddressFamily family = hasAdditional ? AddressFamily.InterNetwork : ctx.Options.DefaultRelayFamily switch
        {
            DefaultRelayFamily.IPv6 => AddressFamily.InterNetworkV6,
            DefaultRelayFamily.Keep => state.FiveTuple.ServerAddress.AddressFamily,
            _ => AddressFamily.InterNetwork,
        };
        bool dual = false;
        if (hasFamily)
        {
            // RFC 8656 section 7.2: "If the REQUESTED-ADDRESS-FAMILY attribute ... contains an unknown or unsupported
            // address family, the server rejects the request with a 440 (Address Family not Supported)".
            if (!request.TryGetLeadingByte(StunAttributeType.RequestedAddressFamily, out byte requested))
            {
                return StunErrorCodes.BadRequest;
            }

            family = requested switch
            {
                StunAddressCodec.FamilyIPv4 => AddressFamily.InterNetwork,
                StunAddressCodec.FamilyIPv6 => AddressFamily.InterNetworkV6,
                _ => AddressFamily.Unknown,
            };
            if (family == AddressFamily.Unknown)
            {
                return StunErrorCodes.AddressFamilyNotSupported;
            }
        }
        else if (hasAdditional)
        {
            // Section 7.1: ADDITIONAL-ADDRESS-FAMILY asks for an IPv6 relay besides the IPv4 one; any other value is 400.
            if (!request.TryGetLeadingByte(StunAttributeType.AdditionalAddressFamily, out byte additional) || additional != StunAddressCodec.FamilyIPv6)
            {
                return StunErrorCodes.BadRequest;
            }

            dual = true;
        }

        ulong token = 0;
        bool reserveNext = false;
        if (hasToken && !request.TryGetReservationToken(out token))
        {
            return StunErrorCodes.BadRequest;
        }

        // Step 6: EVEN-PORT with the R bit "and the request also contains an ADDITIONAL-ADDRESS-FAMILY attribute, the
        // server rejects the request with a 400 (Bad Request)".
        if (hasEvenPort && (!request.TryGetEvenPort(out reserveNext) || (reserveNext && hasAdditional)))
        {
            return StunErrorCodes.BadRequest;
        }

        int claimedPort = 0;
        TransportAddress reservedOn = default;
        if (hasToken)
        {
            // Step 5: "If the token is not valid, the request is rejected with a 508 (Insufficient Capacity) error."
            if (!ctx.Reservations.TryClaim(token, out claimedPort, out family, out reservedOn))
            {
                return StunErrorCodes.InsufficientCapacity;
            }
        }

        // Step 9 lets a dual request be met in part, by its IPv6 relay alone (below).
        bool primarySupported = ctx.RelayFactory.SupportsFamily(family, state.FiveTuple.ServerAddress);
        bool ipv6Supported = ctx.RelayFactory.SupportsFamily(AddressFamily.InterNetworkV6, state.FiveTuple.ServerAddress);
        if (!primarySupported && !(dual && ipv6Supported))
        {
            ctx.Ports.Release(claimedPort);
            return StunErrorCodes.AddressFamilyNotSupported;
        }

        // Step 10 (quota): "the server MAY reject the request with a 486 (Allocation Quota Reached)".
        if (ctx.Allocations.TryReserveQuota(state.Username, out long bandwidth) != QuotaResult.Reserved)
        {
            ctx.Ports.Release(claimedPort);
            return StunErrorCodes.AllocationQuotaReached;
        }

        RelayEndpoint? relay = !primarySupported ? null
            : tcp ? BindTcpFromPool(ctx, family, state.FiveTuple.ServerAddress)
            : hasToken ? BindClaimed(ctx, family, reservedOn, claimedPort, dontFragment)
            : BindFromPool(ctx, family, state.FiveTuple.ServerAddress, hasEvenPort, reserveNext, dontFragment, out token);

        // Step 9: "If the server can partially meet the request, i.e., if it can only allocate one relayed transport
        // address of a specific address type", it allocates that one and says why the other failed in
        // ADDRESS-ERROR-CODE: a dual request whose IPv4 relay cannot be had still gets its IPv6 one (even, if asked).
        int primaryError = 0;
        if (relay is null && dual && ipv6Supported)
        {
            relay = BindFromPool(ctx, AddressFamily.InterNetworkV6, state.FiveTuple.ServerAddress, hasEvenPort, reserveNext: false, dontFragment, out _);
            primaryError = primarySupported ? StunErrorCodes.InsufficientCapacity : StunErrorCodes.AddressFamilyNotSupported;
            dual = false;
        }

        if (relay is null)
        {
            ctx.Allocations.ReleaseQuota(state.Username, bandwidth);
            return StunErrorCodes.InsufficientCapacity;
        }

        RelayEndpoint? additionalRelay = null;
        int additionalError = 0;
        if (dual)
        {
            // Section 7.2: if the IPv6 relay cannot be had, the allocation goes ahead with IPv4 only and the response
            // says why in ADDRESS-ERROR-CODE: "440 (Address Family not Supported) or 508 (Insufficient Capacity)".
            additionalRelay = ipv6Supported
                ? BindFromPool(ctx, AddressFamily.InterNetworkV6, state.FiveTuple.ServerAddress, evenPort: false, reserveNext: false, dontFragment, out _)
                : null;
            additionalError = additionalRelay is not null ? 0
                : ipv6Supported ? StunErrorCodes.InsufficientCapacity : StunErrorCodes.AddressFamilyNotSupported;
        }

        // An allocation made with an access token ends when the token does, as coTURN caps it; a new token extends it.
        uint lifetime = Lifetimes.Granted(request, ctx, state.Auth, zeroDeletes: false);
        var allocation = new Allocation(
            state.FiveTuple,
            state.Connections.GetConnection(state.FiveTuple),
            state.Username,
            state.Auth.Key,
            ctx.Time,
            ctx.Options.Fingerprint,
            ctx.Now + ctx.SecondsToTicks(lifetime))
        {
            TcpConnections = tcp ? ctx.TcpConnections : null,
            BandwidthLimit = bandwidth,
            Counters = ctx.Counters,
            AcceptsAnyPeer = ctx.Options.ServerRelay,
            ViaAccessToken = state.Auth.ViaAccessToken,
            Origin = ctx.Options.CheckOriginConsistency ? Origins.FromRequest(request) : null,
            CreatedBy = request.TransactionId,
            AddressErrorFamily = additionalError != 0 ? StunAddressCodec.FamilyIPv6 : primaryError != 0 ? StunAddressCodec.FamilyIPv4 : (byte)0,
            AddressError = additionalError != 0 ? additionalError : primaryError,
        };
        if (mobile)
        {
            allocation.IssueMobilityTicket(Mobility.NewTicket());
        }

        if (state.Auth.ViaAccessToken)
        {
            allocation.Rekey(state.Auth.Username!, state.Auth.Key!, state.Auth.KeyExpiresAt);
        }

        allocation.AttachRelay(relay, ctx.Options.Advertise(relay.LocalAddress));
        if (additionalRelay is not null)
        {
            allocation.AttachRelay(additionalRelay, ctx.Options.Advertise(additionalRelay.LocalAddress));
        }

        if (!ctx.Allocations.Add(allocation))
        {
            // Another Allocate on the same 5-tuple won a race.
            allocation.Release();
            ctx.Allocations.ReturnPorts(allocation);
            ctx.Allocations.ReleaseQuota(state.Username, bandwidth);
            if (token != 0)
            {
                ctx.Reservations.TryClaim(token, out int held, out _, out _);
                ctx.Ports.Release(held);
            }

            return StunErrorCodes.AllocationMismatch;
        }

        relay.Start(allocation);
        additionalRelay?.Start(allocation);

        WriteSuccess(ref response, allocation, lifetime, hasToken ? 0 : token, state.FiveTuple.ClientAddress);
        return 0;
    }

    /// <summary>
    /// Section 7.2, success response: XOR-RELAYED-ADDRESS (two for a dual allocation, else ADDRESS-ERROR-CODE if a
    /// family failed), LIFETIME (<paramref name="lifetime"/> seconds), MOBILITY-TICKET if the allocation has one,
    /// RESERVATION-TOKEN if <paramref name="newToken"/> is not 0, and XOR-MAPPED-ADDRESS (<paramref name="mapped"/>).
    /// </summary>
    private static void WriteSuccess(ref StunMessageWriter response, Allocation allocation, uint lifetime, ulong newToken, in TransportAddress mapped)
    {
        response.WriteXorAddress(StunAttributeType.XorRelayedAddress, allocation.RelayedTransportAddress);
        if (allocation.IsDual)
        {
            response.WriteXorAddress(StunAttributeType.XorRelayedAddress, allocation.AdditionalRelayedTransportAddress);
        }
        else if (allocation.AddressError != 0)
        {
            response.WriteAddressErrorCode(allocation.AddressErrorFamily, allocation.AddressError);
        }

        response.WriteUInt32(StunAttributeType.Lifetime, lifetime);
        if (allocation.MobilityTicket is { } ticket)
        {
            // RFC 8016 section 3.1: the ticket that moves this allocation to a new 5-tuple.
            response.WriteText(StunAttributeType.MobilityTicket, ticket);
        }

        if (newToken != 0)
        {
            response.WriteUInt64(StunAttributeType.ReservationToken, newToken);
        }

        response.WriteXorAddress(StunAttributeType.XorMappedAddress, mapped);
    }

    private static RelayEndpoint? BindClaimed(TurnContext ctx, AddressFamily family, in TransportAddress server, int port, bool dontFragment)
    {
        RelayBindError error = ctx.RelayFactory.TryBind(family, server, port, dontFragment, out RelayEndpoint? relay);
        if (error == RelayBindError.None)
        {
            return relay;
        }

        GiveBack(ctx, port, error);
        return null;
    }

    /// <summary>Takes ports from the pool until a TCP relay listener binds (RFC 6062 section 5.1).</summary>
    private static TcpRelayEndpoint? BindTcpFromPool(TurnContext ctx, AddressFamily family, in TransportAddress server)
    {
        for (int attempt = 0; attempt < BindAttempts; attempt++)
        {
            if (!ctx.Ports.TryTake(out int port))
            {
                return null;
            }

            RelayBindError error = ctx.RelayFactory.TryBindTcp(family, server, port, out TcpRelayEndpoint? relay);
            if (error == RelayBindError.None && relay is not null)
            {
                return relay;
            }

            GiveBack(ctx, port, error);
            if (error is RelayBindError.FamilyNotSupported or RelayBindError.NoResources)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// Takes ports from the pool until one binds; ports held by other programs are quarantined, and those that this
    /// server's own closing sockets still hold stay out until the search ends, so that it does not draw them again.
    /// </summary>
    private static RelayEndpoint? BindFromPool(TurnContext ctx, AddressFamily family, in TransportAddress server, bool evenPort, bool reserveNext, bool dontFragment, out ulong token)
    {
        token = 0;
        RelayEndpoint? bound = null;
        Span<int> closing = stackalloc int[BindAttempts];
        int closingCount = 0;
        for (int attempt = 0; attempt < BindAttempts; attempt++)
        {
            // Step 6: EVEN-PORT "the server ... MUST allocate an even port"; with R set it "reserves the next higher
            // port" and returns a RESERVATION-TOKEN for it.
            bool taken = evenPort ? ctx.Ports.TryTakeEven(reserveNext, out int port) : ctx.Ports.TryTake(out port);
            if (!taken)
            {
                break;
            }

            RelayBindError error = ctx.RelayFactory.TryBind(family, server, port, dontFragment, out RelayEndpoint? relay);
            if (error == RelayBindError.None && relay is not null)
            {
                if (evenPort && reserveNext)
                {
                    token = ctx.Reservations.Add(port + 1, family, server);
                }

                bound = relay;
                break;
            }

            if (error == RelayBindError.PortClosing)
            {
                closing[closingCount++] = port;
            }
            else
            {
                GiveBack(ctx, port, error);
            }

            if (evenPort && reserveNext)
            {
                ctx.Ports.Release(port + 1);
            }

            if (error is RelayBindError.FamilyNotSupported or RelayBindError.NoResources)
            {
                break;
            }
        }

        foreach (int port in closing[..closingCount])
        {
            ctx.Ports.Release(port);
        }

        return bound;
    }

    /// <summary>A port that another program holds is quarantined for a minute; any other failure returns it at once.</summary>
    private static void GiveBack(TurnContext ctx, int port, RelayBindError error)
    {
        if (error == RelayBindError.PortInUse)
        {
            ctx.Ports.Quarantine(port, ctx.Now + ctx.SecondsToTicks(60));
        }
        else
        {
            ctx.Ports.Release(port);
        }
    }
}
