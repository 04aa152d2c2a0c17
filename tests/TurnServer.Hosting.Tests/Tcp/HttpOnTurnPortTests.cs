using System.Buffers;
using System.Text;
using TurnServer.Hosting.Tcp;
using TurnServer.Tests.Shared;

namespace TurnServer.Hosting.Tests.Tcp;

/// <summary>HTTP at the start of a TURN stream connection: told from STUN and ChannelData, and answered as configured.</summary>
public sealed class HttpOnTurnPortTests
{
    [Theory]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42 }, "NotHttp")] // a Binding request
    [InlineData(new byte[] { 0x40, 0x01, 0x00, 0x04 }, "NotHttp")] // ChannelData
    [InlineData(new byte[] { (byte)'G' }, "NeedMore")]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'T' }, "NeedMore")]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'X' }, "NotHttp")]
    public void The_first_bytes_tell_http_from_turn(byte[] start, string expected)
    {
        Assert.Equal(expected, HttpOnTurnPort.Probe(new ReadOnlySequence<byte>(start), out _).ToString());
    }

    [Fact]
    public void A_request_line_is_read_once_complete_even_across_segments_and_cut_when_too_long()
    {
        Assert.Equal(HttpProbe.NeedMore, HttpOnTurnPort.Probe(Bytes("GET /index.html HTT"), out _));
        Assert.Equal(HttpProbe.Http, HttpOnTurnPort.Probe(Segmented("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"), out string line));
        Assert.Equal("GET /index.html HTTP/1.1", line);

        Assert.Equal(HttpProbe.Http, HttpOnTurnPort.Probe(Bytes("POST /" + new string('a', 5000)), out line));
        Assert.Equal(HttpOnTurnPort.MaxRequestLineLength, line.Length);
    }

    [Fact]
    public void Acme_challenges_are_redirected_and_other_requests_get_400_or_nothing()
    {
        var both = new HttpOnTurnPort("http://acme.example.net/challenges/", respondUnsupported: true);
        var none = new HttpOnTurnPort(null, respondUnsupported: false);

        string redirect = Text(both.Answer("GET /.well-known/acme-challenge/Tok3n_x HTTP/1.1"));
        Assert.StartsWith("HTTP/1.1 301 Moved Permanently\r\n", redirect, StringComparison.Ordinal);
        Assert.Contains("\r\nLocation: http://acme.example.net/challenges/Tok3n_x\r\n", redirect, StringComparison.Ordinal);
        Assert.EndsWith("Content-Length: 0\r\nConnection: close\r\n\r\n", redirect, StringComparison.Ordinal);

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET / HTTP/1.1")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET /.well-known/acme-challenge/abc\rSet-Cookie:evil=1 HTTP/1.1")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET /.well-known/acme-challenge/../admin HTTP/1.1")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET /.well-known/acme-challenge/ HTTP/1.1")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET /.well-known/acme-challenge/tok?x=1 HTTP/1.1")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("GET /.well-known/acme-challenge/tok")), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Text(both.Answer("POST /.well-known/acme-challenge/x HTTP/1.1")), StringComparison.Ordinal);
        Assert.Null(none.Answer("GET /.well-known/acme-challenge/x HTTP/1.1"));
        Assert.Null(new HttpOnTurnPort("http://acme.example.net/", respondUnsupported: false).Answer("GET / HTTP/1.1"));
    }

    private static ReadOnlySequence<byte> Bytes(string text) => new(Encoding.ASCII.GetBytes(text));

    private static string Text(byte[]? answer) => answer is null ? "" : Encoding.ASCII.GetString(answer);

    /// <summary>One segment per byte, as a slow client's bytes may sit in a pipe.</summary>
    private static ReadOnlySequence<byte> Segmented(string text) => SegmentedSequence.Create(Encoding.ASCII.GetBytes(text), Enumerable.Repeat(1, text.Length));
}
