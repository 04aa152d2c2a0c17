using System.Text;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>
/// coTURN's <c>check-origin-consistency</c>: requests on an allocation must name the origin its Allocate named, in an
/// ORIGIN attribute (0x802F, from browsers of the RFC 7635 era). A request may carry several; as in coTURN, the
/// allocation keeps the last (coTURN's origin-to-realm table, which could pick another, is not used here) and a later
/// request passes when any of its ORIGINs matches. Origins are compared in canonical form, <c>scheme://host:port</c>
/// in lower case with the scheme's default port filled in.
/// </summary>
internal static class Origins
{
    /// <summary>The canonical form of the request's last non-empty ORIGIN attribute; null when it has none.</summary>
    public static string? FromRequest(in StunMessageReader request)
    {
        string? origin = null;
        foreach (StunAttribute attribute in request.GetAttributes())
        {
            if (attribute.Type == (ushort)StunAttributeType.Origin && !attribute.Value.IsEmpty)
            {
                origin = Canonical(attribute.Value);
            }
        }

        return origin;
    }

    /// <summary>
    /// False when the request breaks the allocation's origin (answer 441, as coTURN does): the allocation has an
    /// origin and none of the request's ORIGINs is it, or the allocation has none and the request names one.
    /// </summary>
    public static bool Consistent(string? allocationOrigin, in StunMessageReader request)
    {
        bool named = false;
        foreach (StunAttribute attribute in request.GetAttributes())
        {
            if (attribute.Type != (ushort)StunAttributeType.Origin || attribute.Value.IsEmpty)
            {
                continue;
            }

            if (allocationOrigin is not null && string.Equals(allocationOrigin, Canonical(attribute.Value), StringComparison.Ordinal))
            {
                return true;
            }

            named = true;
        }

        return allocationOrigin is null && !named;
    }

    /// <summary>
    /// <c>scheme://host:port</c> in lower case (no port for a scheme without a default one); text that is not an
    /// absolute URI with a host stays as it is, in lower case, so a garbled origin still has to repeat itself.
    /// </summary>
    private static string Canonical(ReadOnlySpan<byte> value)
    {
        string text = Encoding.UTF8.GetString(value);
        if (Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) && uri.Host.Length > 0)
        {
            text = uri.Port < 0 ? $"{uri.Scheme}://{uri.IdnHost}" : $"{uri.Scheme}://{uri.IdnHost}:{uri.Port}";
        }

        return text.ToLowerInvariant();
    }
}
