using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace TurnServer.Hosting.Configuration;

/// <summary>Finds the address a host name stands for; null when it has none. Must not throw.</summary>
/// <param name="hostName">A syntactically valid host name (see <see cref="TurnValueParser.IsHostName"/>).</param>
internal delegate IPAddress? HostLookup(string hostName);

/// <summary>Parses option values; each method returns false on malformed text and never throws.</summary>
internal static partial class TurnValueParser
{
    /// <summary>
    /// coTURN's <c>get_bool_value</c>: "" (a bare flag) is true; otherwise only the first character counts (<c>0</c>,
    /// <c>n</c>, <c>f</c> false; <c>1</c>-<c>9</c>, <c>y</c>, <c>t</c> true; letters in either case), and else the whole
    /// value must be <c>on</c> or <c>off</c> written all lower, all upper or capitalised. <c>nope</c> is false and
    /// <c>2</c> true there, and so here; what coTURN rejects (<c>maybe</c>, <c>oN</c>) is not a boolean here either.
    /// </summary>
    public static bool TryParseBoolean(string text, out bool value)
    {
        value = text.Length == 0;
        if (value)
        {
            return true;
        }

        switch (text[0])
        {
            case '0' or 'n' or 'N' or 'f' or 'F':
                return true;
            case 'y' or 'Y' or 't' or 'T' or (>= '1' and <= '9'):
                value = true;
                return true;
        }

        switch (text)
        {
            case "off" or "OFF" or "Off":
                return true;
            case "on" or "ON" or "On":
                value = true;
                return true;
            default:
                return false;
        }
    }

    /// <summary>A decimal integer with an optional sign, as a 64-bit value.</summary>
    public static bool TryParseInteger(string text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>
    /// Splits a number followed only by a ';' (<c>3478;</c>) or by blanks and a '#' comment (<c>3478 # udp</c>) into the
    /// number and that note. False for anything else, <c>3478abc</c> included.
    /// </summary>
    public static bool TrySplitTrailingNote(string text, out string number, out string note)
    {
        Match match = NumberWithNote().Match(text);
        number = match.Groups["number"].Value;
        note = match.Groups["note"].Value.Trim();
        return match.Success;
    }

    /// <summary>A port: decimal digits only, 0 to 65535.</summary>
    public static bool TryParsePort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= IPEndPoint.MaxPort;

    /// <summary>
    /// An IPv6 literal, or an IPv4 literal in dotted-quad form without leading zeros, as <c>inet_pton</c> takes them.
    /// <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> alone would also take "10.1" or octal "010.0.0.1".
    /// Otherwise, as coTURN's <c>make_ioa_addr</c> falls back to <c>getaddrinfo</c>, a host name is given to
    /// <paramref name="lookup"/> when there is one.
    /// </summary>
    public static bool TryParseIPAddress(string text, HostLookup? lookup, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        if (TryParseIPAddress(text, out address))
        {
            return true;
        }

        address = lookup is not null && IsHostName(text) ? lookup(text) : null;
        return address is not null;
    }

    /// <summary>
    /// A host name as RFC 1123 writes them: dot-separated labels of letters, digits and inner hyphens, the last one
    /// not all digits, so that malformed IPv4 literals ("10.0.0", "010.0.0.1") are never looked up.
    /// </summary>
    public static bool IsHostName(string text) => text.Length <= 253 && HostName().IsMatch(text);

    /// <summary>An IP literal only (see the overload that takes a <see cref="HostLookup"/>).</summary>
    public static bool TryParseIPAddress(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (text.Contains(':', StringComparison.Ordinal))
        {
            return IPAddress.TryParse(text, out address) && address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        string[] octets = text.Split('.');
        if (octets.Length != 4)
        {
            return false;
        }

        foreach (string octet in octets)
        {
            if (octet.Length is 0 or > 3 || (octet.Length > 1 && octet[0] == '0') || !byte.TryParse(octet, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                return false;
            }
        }

        return IPAddress.TryParse(text, out address);
    }

    /// <summary>
    /// <c>public</c> or <c>public/private</c>, both of one address family; each an IP literal or a host name given to
    /// <paramref name="lookup"/>.
    /// </summary>
    public static bool TryParseExternalIp(string text, HostLookup? lookup, out ExternalIpMapping mapping)
    {
        mapping = default;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string publicText = slash < 0 ? text : text[..slash];
        if (!TryParseIPAddress(publicText, lookup, out IPAddress? publicAddress))
        {
            return false;
        }

        IPAddress? privateAddress = null;
        if (slash >= 0 && (!TryParseIPAddress(text[(slash + 1)..], lookup, out privateAddress) || privateAddress.AddressFamily != publicAddress.AddressFamily))
        {
            return false;
        }

        mapping = new ExternalIpMapping(publicAddress, privateAddress);
        return true;
    }

    /// <summary>
    /// <c>ip</c>, <c>ip:port</c>, <c>[ipv6]</c>, <c>[ipv6]:port</c> or a bare IPv6 address; a host name in place of
    /// <c>ip</c> is given to <paramref name="lookup"/>. As in coTURN, a missing port or port 0 means
    /// <paramref name="defaultPort"/>.
    /// </summary>
    public static bool TryParseEndPoint(string text, int defaultPort, HostLookup? lookup, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        string host = text;
        string? portText = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            string rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    return false;
                }

                portText = rest[1..];
            }
        }
        else if (text.IndexOf(':', StringComparison.Ordinal) is int colon and >= 0 && colon == text.LastIndexOf(':'))
        {
            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        int port = 0;
        if ((portText is not null && !TryParsePort(portText, out port)) || !TryParseIPAddress(host, lookup, out IPAddress? address))
        {
            return false;
        }

        endPoint = new IPEndPoint(address, port == 0 ? defaultPort : port);
        return true;
    }

    /// <summary>
    /// <c>name:password</c> or <c>name:0x&lt;32 hex digits&gt;</c>, split at the first colon; blanks after the colon are
    /// skipped, as coTURN does. <paramref name="reason"/> says what is wrong when false is returned.
    /// </summary>
    public static bool TryParseUser(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out UserEntry? user, out string reason)
    {
        user = null;
        reason = "";
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string secret = colon < 0 ? "" : text[(colon + 1)..].TrimStart(' ', '\t');
        if (colon <= 0 || secret.Length == 0)
        {
            reason = "not a user entry ('name:password' or 'name:0x' followed by 32 hex digits)";
            return false;
        }

        string name = text[..colon];
        if (!secret.StartsWith("0x", StringComparison.Ordinal))
        {
            user = new UserEntry(name, secret, null);
            return true;
        }

        string hex = secret[2..];
        if (hex.Length != 32 || !hex.All(char.IsAsciiHexDigit))
        {
            reason = "bad hex key (expected 0x followed by 32 hex digits, the MD5 key turnadmin -k prints)";
            return false;
        }

        user = new UserEntry(name, null, Convert.FromHexString(hex));
        return true;
    }

    [GeneratedRegex(@"^(?<number>[+-]?[0-9]+)(?<note>\s*;|\s+#.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberWithNote();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();
}
