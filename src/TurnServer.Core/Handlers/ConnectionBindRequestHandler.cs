using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>ConnectionBind (RFC 6062 section 5.4): makes a new client connection the data connection for a peer connection.</summary>
internal static class ConnectionBindRequestHandler
{
    /// <summary>
    /// Hands the peer connection named by CONNECTION-ID to this connection. Returns 0, or 400 (not TCP or TLS, a control connection,
    /// CONNECTION-ID missing or unknown) or 441 (the allocation belongs to another user; that peer connection is closed).
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request)
    {
        // "If the client connection transport is not TCP or TLS, the server MUST return a 400 (Bad Request) error."
        // A control connection (one with an allocation) cannot become a data connection either.
        if (!state.FiveTuple.IsStream || state.Connections is not IDataConnectionBinder binder || state.Allocation is not null)
        {
            return StunErrorCodes.BadRequest;
        }

        // "If the request does not contain the CONNECTION-ID attribute, or if this attribute does not refer to an
        // existing pending connection, the server MUST return a 400 (Bad Request) error."
        if (!request.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId) || !ctx.TcpConnections.TryClaim(connectionId, out PendingPeerConnection? pending))
        {
            return StunErrorCodes.BadRequest;
        }

        // Only the allocation's own user may take its connections; the claimed connection is closed so a guessed
        // CONNECTION-ID cannot be retried.
        if (ctx.Authenticator is not null && !pending.Allocation.Admits(state.Auth))
        {
            pending.Allocation.ReleaseTcpPeer(pending.Peer.PeerAddress);
            pending.Peer.Dispose();
            return StunErrorCodes.WrongCredentials;
        }

        // "Otherwise, the client connection is now called a client data connection. Data received on it MUST be sent
        // as-is to the associated peer data connection" (done by the transport once this answer has gone out).
        binder.BindPeer(pending.Peer, pending.Allocation);
        return 0;
    }
}
