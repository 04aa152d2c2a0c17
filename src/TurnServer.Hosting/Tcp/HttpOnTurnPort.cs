using System.Buffers;
using System.Globalization;
using System.Text;

namespace TurnServer.Hosting.Tcp;

/// <summary>What the start of a stream connection is, as far as HTTP goes.</summary>
internal enum HttpProbe
{
    /// <summary>Not an HTTP request: TURN framing applies.</summary>
    NotHttp,

    /// <summary>Too few bytes to tell, or an HTTP request line not yet complete.</summary>
    NeedMore,

    /// <summary>An HTTP request line, complete (or cut at <see cref="HttpOnTurnPort.MaxRequestLineLength"/>).</summary>
    Http,
}

/// <summary>
/// HTTP requests that reach a TURN TCP or TLS port (a browser, a scanner, an ACME validator when TURN holds port 80
/// or 443): as coTURN does, <c>acme-redirect</c> sends ACME HTTP-01 challenges (RFC 8555 section 8.3,
/// <c>GET /.well-known/acme-challenge/TOKEN</c>) to <c>URL + TOKEN</c> with 301, and <c>respond-http-unsupported</c>
/// answers any other request with 400. Otherwise the connection is closed at once, rather than held until
/// <c>max-allocate-timeout</c> as the bytes would be if read as a ChannelData header. Only a connection's first
/// bytes are looked at: a TURN client always starts with a STUN request.
/// </summary>
internal sealed class HttpOnTurnPort(string? acmeRedirect, bool respondUnsupported)
{
    /// <summary>The most request-line bytes read; a longer line is answered as it stands.</summary>
    public const int MaxRequestLineLength = 2048;

    private const string AcmeChallengePath = "/.well-known/acme-challenge/";

    private static readonly SearchValues<char> TokenCharacters = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    private static readonly byte[][] Methods = [.. new[] { "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE " }.Select(Encoding.ASCII.GetBytes)];

    /// <summary>
    /// Looks at a connection's first bytes: <see cref="HttpProbe.Http"/> with the request line (without CRLF) once
    /// one has come, <see cref="HttpProbe.NeedMore"/> while an HTTP method could still be starting.
    /// </summary>
    public static HttpProbe Probe(in ReadOnlySequence<byte> start, out string requestLine)
    {
        requestLine = "";
        Span<byte> head = stackalloc byte[8];
        int length = (int)Math.Min(start.Length, head.Length);
        start.Slice(0, length).CopyTo(head);
        bool prefix = false;
        bool method = false;
        foreach (byte[] candidate in Methods)
        {
            int common = Math.Min(length, candidate.Length);
            if (head[..common].SequenceEqual(candidate.AsSpan(0, common)))
            {
                prefix = true;
                method |= length >= candidate.Length;
            }
        }

        if (!prefix)
        {
            return HttpProbe.NotHttp;
        }

        if (!method)
        {
            return HttpProbe.NeedMore;
        }

        ReadOnlySequence<byte> window = start.Slice(0, Math.Min(start.Length, MaxRequestLineLength));
        SequencePosition? end = window.PositionOf((byte)'\n');
        if (end is null && window.Length < MaxRequestLineLength)
        {
            return HttpProbe.NeedMore;
        }

        requestLine = Encoding.ASCII.GetString(end is { } lf ? window.Slice(0, lf) : window).TrimEnd('\r');
        return HttpProbe.Http;
    }

    /// <summary>The answer to <paramref name="requestLine"/> (a complete HTTP/1.x response), or null to close without one.</summary>
    public byte[]? Answer(string requestLine)
    {
        string[] parts = requestLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // The token goes into a Location header: only a real one (base64url, RFC 8555 section 8.3) may, so that no
        // CR, path or query of the client's making reaches the response or the redirect target.
        if (acmeRedirect is { Length: > 0 } && parts is ["GET", string target, string version] && version.StartsWith("HTTP/1.", StringComparison.Ordinal)
            && target.StartsWith(AcmeChallengePath, StringComparison.Ordinal) && IsToken(target.AsSpan(AcmeChallengePath.Length)))
        {
            string token = target[AcmeChallengePath.Length..];
            return Response("301 Moved Permanently", "Location: " + acmeRedirect + token + "\r\n", "");
        }

        return respondUnsupported ? Response("400 Bad Request", "Content-Type: text/plain\r\n", "This port speaks TURN (RFC 8656), not HTTP.\n") : null;
    }

    private static bool IsToken(ReadOnlySpan<char> token) => !token.IsEmpty && !token.ContainsAnyExcept(TokenCharacters);

    private static byte[] Response(string status, string headers, string body) => Encoding.ASCII.GetBytes(string.Create(
        CultureInfo.InvariantCulture,
        $"HTTP/1.1 {status}\r\n{headers}Content-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"));
}
