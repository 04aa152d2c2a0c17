using TurnServer.Core.Auth;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>The lifetime rules shared by Allocate and Refresh (RFC 8656 sections 7.2 and 8.2).</summary>
internal static class Lifetimes
{
    /// <summary>
    /// RFC 8656 sections 7.2 and 8.2: "if the request contains a LIFETIME attribute ... the server computes the minimum of the
    /// client's requested lifetime and the server's maximum allowed lifetime. If this computed value is greater than
    /// the default lifetime, then the 'desired lifetime' is the computed value. Otherwise, the 'desired lifetime' is
    /// the default lifetime." The configured maximum caps the result even if set below the default. Returns 0 only when
    /// <paramref name="zeroDeletes"/> (a Refresh: "if the request contains a LIFETIME attribute and the attribute value
    /// is zero, then the 'desired lifetime' is zero") and the request asks for 0; an Allocate asking for 0 gets the
    /// default like any lifetime below it.
    /// </summary>
    private static uint Desired(in StunMessageReader request, TurnOptions options, bool zeroDeletes)
    {
        uint max = (uint)options.MaxAllocationLifetimeSeconds;
        uint fallback = Math.Min((uint)options.DefaultAllocationLifetimeSeconds, max);
        if (!request.TryGetUInt32(StunAttributeType.Lifetime, out uint requested))
        {
            return fallback;
        }

        if (requested == 0 && zeroDeletes)
        {
            return 0;
        }

        return Math.Max(Math.Min(requested, max), fallback);
    }

    /// <summary>
    /// The lifetime (seconds) an Allocate or Refresh grants: the desired lifetime (<see cref="Desired"/>), cut to end
    /// when the key that authenticated the request does (<see cref="AuthenticationResult.KeyExpiresAt"/>, an access
    /// token's end), as coTURN caps a token's sessions: at least 1 s, since an expired key fails authentication first.
    /// 0 (a deletion) stays 0.
    /// </summary>
    public static uint Granted(in StunMessageReader request, TurnContext ctx, in AuthenticationResult auth, bool zeroDeletes)
    {
        uint lifetime = Desired(request, ctx.Options, zeroDeletes);
        if (lifetime == 0 || auth.KeyExpiresAt == long.MaxValue)
        {
            return lifetime;
        }

        return (uint)Math.Clamp(auth.KeyExpiresAt - ctx.Time.GetUtcNow().ToUnixTimeSeconds(), 1, lifetime);
    }
}
