using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>A plain TCP client for the telnet CLI: sends lines ended by CR LF, reads until an expected ending.</summary>
internal sealed class TelnetTestClient : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly TcpClient _client = new();
    private readonly StringBuilder _pending = new();

    private TelnetTestClient()
    {
    }

    public static async Task<TelnetTestClient> ConnectAsync(int port)
    {
        var client = new TelnetTestClient();
        await client._client.ConnectAsync(IPAddress.Loopback, port);
        return client;
    }

    public Task SendAsync(string line) => _client.GetStream().WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n")).AsTask();

    public Task SendBytesAsync(byte[] bytes) => _client.GetStream().WriteAsync(bytes).AsTask();

    /// <summary>Everything received up to and including the first <paramref name="ending"/>; throws after the timeout.</summary>
    public async Task<string> ReadUntilAsync(string ending)
    {
        using var cts = new CancellationTokenSource(Timeout);
        byte[] buffer = new byte[4096];
        while (true)
        {
            string text = _pending.ToString();
            int at = text.IndexOf(ending, StringComparison.Ordinal);
            if (at >= 0)
            {
                _pending.Remove(0, at + ending.Length);
                return text[..(at + ending.Length)];
            }

            int read = await _client.GetStream().ReadAsync(buffer, cts.Token);
            if (read == 0)
            {
                throw new EndOfStreamException("the CLI closed the connection; received: " + text);
            }

            _pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }
    }

    /// <summary>True when the server closes the connection (after whatever it still sends) within the timeout.</summary>
    public async Task<bool> ClosedByServerAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        byte[] buffer = new byte[4096];
        try
        {
            while (await _client.GetStream().ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose() => _client.Dispose();
}
