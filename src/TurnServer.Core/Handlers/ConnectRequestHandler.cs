using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>Connect (RFC 6062 section 5.2): opens a TCP connection from a TCP relayed address to a peer.</summary>
internal static class ConnectRequestHandler
{
    /// <summary>Returned instead of an error code: the answer will be sent when the connection attempt ends.</summary>
    public const int Deferred = -1;

    /// <summary>
    /// Starts connecting the TCP relay to XOR-PEER-ADDRESS and returns <see cref="Deferred"/>: the answer (CONNECTION-ID, or 447) is sent
    /// when the attempt ends. Otherwise the error code: 437 (no allocation), 400 (no peer address, UDP allocation), 443, 403, 446,
    /// or 508 when the allocation's attempts under way and peer connections waiting for a ConnectionBind make
    /// <see cref="Allocation.MaxUnboundPeerConnections"/> already.
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request)
    {
        // "If the request is received on a TCP connection for which no allocation exists, the server MUST return a
        // 437 (Allocation Mismatch) error."
        Allocation? allocation = state.Allocation;
        if (allocation is null)
        {
            return StunErrorCodes.AllocationMismatch;
        }

        // "If the request does not contain an XOR-PEER-ADDRESS attribute, or if such attribute is invalid, the server
        // MUST return a 400 (Bad Request) error." A UDP allocation cannot connect either.
        if (!allocation.IsTcp || !request.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress peer))
        {
            return StunErrorCodes.BadRequest;
        }

        int error = PeerChecks.Check(ctx, allocation, peer);
        if (error != 0)
        {
            return error;
        }

        // "If the server is currently processing a Connect request for this allocation with the same XOR-PEER-ADDRESS,
        // it MUST return a 446 (Connection Already Exists) error" — and likewise while that connection is pending or open.
        if (!allocation.TryReserveTcpPeer(peer))
        {
            return StunErrorCodes.ConnectionAlreadyExists;
        }

        // RFC 6062 sets no limit; RFC 8656 section 18's 508 (Insufficient Capacity) is the code for "some capacity
        // limit being reached", and tells the client the refusal is the server's, unlike 447's failed connection.
        if (!allocation.TryBeginConnect())
        {
            allocation.ReleaseTcpPeer(peer);
            return StunErrorCodes.InsufficientCapacity;
        }

        var relay = (TcpRelayEndpoint)allocation.GetRelay(peer.AddressFamily)!;
        _ = ConnectAsync(allocation, relay, peer, request.TransactionId, state.Seal);
        return Deferred;
    }

    private static async Task ConnectAsync(Allocation allocation, TcpRelayEndpoint relay, TransportAddress peer, TransactionId transactionId, ResponseSeal seal)
    {
        IPeerDataConnection? connection;
        try
        {
            connection = await relay.ConnectAsync(peer).ConfigureAwait(false);
        }
        catch (Exception)
        {
            connection = null; // a relay's failure costs this Connect its 447, never one of the allocation's 64 slots
        }
        finally
        {
            allocation.EndConnect();
        }

        if (connection is not null && allocation.IsReleased)
        {
            connection.Dispose();
            return;
        }

        // "If the connection attempt fails or times out, the server MUST return a 447 (Connection Timeout or Failure)
        // error." On success "the server MUST include the CONNECTION-ID attribute in the Connect success response".
        // Peers connecting in may have filled the waiting places meanwhile: then the connection is not kept, and to the
        // client that is a failed attempt.
        uint connectionId = 0;
        if (connection is not null && !allocation.TcpConnections!.TryRegister(allocation, connection, out connectionId))
        {
            connection.Dispose();
            connection = null;
        }

        if (connection is null)
        {
            allocation.ReleaseTcpPeer(peer);
        }

        Answer(allocation, transactionId, seal, connectionId);
    }

    private static void Answer(Allocation allocation, TransactionId transactionId, ResponseSeal seal, uint connectionId)
    {
        Span<byte> buffer = stackalloc byte[512];
        var writer = new StunMessageWriter(
            buffer,
            StunMethod.Connect,
            connectionId == 0 ? StunMessageClass.ErrorResponse : StunMessageClass.SuccessResponse,
            transactionId);
        if (connectionId == 0)
        {
            writer.WriteErrorCode(StunErrorCodes.ConnectionTimeoutOrFailure);
        }
        else
        {
            writer.WriteUInt32(StunAttributeType.ConnectionId, connectionId);
        }

        seal.Apply(ref writer);
        allocation.Client.Send(writer.Written);
    }
}
