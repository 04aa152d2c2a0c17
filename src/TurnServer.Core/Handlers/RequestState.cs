using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Relay;

namespace TurnServer.Core.Handlers;

/// <summary>What a handler knows about the request besides its bytes, and what it leaves for the error response.</summary>
internal ref struct RequestState
{
    public FiveTuple FiveTuple;
    public IClientConnectionSource Connections;
    public Allocation? Allocation;
    public AuthenticationResult Auth;

    /// <summary>How the answer is finished (signed with the key the request authenticated with).</summary>
    public ResponseSeal Seal;

    /// <summary>Set with a 300 answer: where to send the client (ALTERNATE-SERVER).</summary>
    public IPEndPoint? AlternateServer;

    /// <summary>The username the request authenticated as, or null under no-auth.</summary>
    public readonly string? Username => Auth.Username;
}
