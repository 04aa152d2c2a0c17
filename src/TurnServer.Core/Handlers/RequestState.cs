using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>What a handler knows about the request besides its bytes, and what it leaves for the error response.</summary>
internal ref struct RequestState
{
    /// <summary>The request's 5-tuple: client address, server address, transport.</summary>
    public FiveTuple FiveTuple;

    /// <summary>
    /// The transport's way back to the client, handed to an allocation this request creates; on TCP or TLS also the
    /// ConnectionBind target.
    /// </summary>
    public IClientConnectionSource Connections;

    /// <summary>The allocation on this 5-tuple, or null (an expired one not yet swept is removed first).</summary>
    public Allocation? Allocation;

    /// <summary>The authentication outcome; default when no authentication applied (no-auth, or Binding without <c>secure-stun</c>).</summary>
    public AuthenticationResult Auth;

    /// <summary>How the answer is finished (signed with the key the request authenticated with).</summary>
    public ResponseSeal Seal;

    /// <summary>Set with a 300 answer: where to send the client (ALTERNATE-SERVER).</summary>
    public IPEndPoint? AlternateServer;

    /// <summary>
    /// Set by a Binding request's CHANGE-REQUEST (RFC 5780): the server address the answer must leave from, when it
    /// is not the one the request arrived at.
    /// </summary>
    public TransportAddress? ResponseOrigin;

    /// <summary>The username the request authenticated as, or null under no-auth.</summary>
    public readonly string? Username => Auth.Username;
}
