using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>Binding (RFC 8489 section 6.3): tells the client the transport address the server saw it from.</summary>
internal static class BindingRequestHandler
{
    /// <summary>Writes XOR-MAPPED-ADDRESS, the source transport address of the request; always returns 0.</summary>
    public static int Handle(ref RequestState state, ref StunMessageWriter response)
    {
        // RFC 8489 section 6.3.1.1: "the server ... MUST add an XOR-MAPPED-ADDRESS attribute ... the source
        // transport address of the request message".
        response.WriteXorAddress(StunAttributeType.XorMappedAddress, state.FiveTuple.ClientAddress);
        return 0;
    }
}
