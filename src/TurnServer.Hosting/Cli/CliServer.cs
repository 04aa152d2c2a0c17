using System.Diagnostics;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Services;

namespace TurnServer.Hosting.Cli;

/// <summary>
/// coTURN's telnet CLI on <c>cli-ip</c>:<c>cli-port</c> (127.0.0.1:5766), served by Kestrel's connection layer: each
/// TCP connection is a <see cref="CliSession"/> fed by a <see cref="TelnetLineReader"/>. As in coTURN 4.6, it runs only
/// with a <c>cli-password</c> and not with <c>no-cli</c>. At most <see cref="ConnectionLimit"/> connections at once;
/// a connection idle for <see cref="IdleTimeout"/> is closed, and one not logged in within <see cref="LoginTimeout"/>
/// too, so that a client sending blank lines cannot hold one of the few connections the operator needs. Password
/// tries are limited per client address to <see cref="PasswordTriesPerMinute"/> across its connections, so that
/// reconnecting after every five wrong passwords does not make guessing fast.
/// </summary>
internal sealed partial class CliServer : KestrelService
{
    /// <summary>How long a connection may send nothing before it is closed.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(10);

    /// <summary>How long a connection may take to log in, from when it opens (60 s; changed only by tests).</summary>
    internal TimeSpan LoginTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Passwords (right or wrong) one client address may send per minute, over all its connections.</summary>
    public const int PasswordTriesPerMinute = 10;

    private readonly IPAddress _address;
    private readonly int _port;
    private readonly CliContext _context;
    private readonly ILogger _logger;
    private readonly PartitionedRateLimiter<IPAddress> _passwordTries = Net.AddressShares.PerMinute(PasswordTriesPerMinute);

    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/> (0: any free port) for sessions on <paramref name="context"/>.</summary>
    public CliServer(IPAddress address, int port, CliContext context, ILoggerFactory loggerFactory)
        : base(loggerFactory)
    {
        _address = address;
        _port = port;
        _context = context;
        _logger = loggerFactory.CreateLogger("TurnServer.Cli");
    }

    /// <inheritdoc />
    public override int ConnectionLimit => 16;

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        await _passwordTries.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override void Listen(KestrelServerOptions kestrel) => kestrel.Listen(_address, _port, listen => listen.Run(ServeAsync));

    /// <inheritdoc />
    protected override void OnStarted() => LogListening(_logger, new IPEndPoint(_address, Port).ToString());

    private async Task ServeAsync(ConnectionContext connection)
    {
        string peer = connection.RemoteEndPoint?.ToString() ?? "unknown";
        IPAddress client = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        bool TryPassword()
        {
            using RateLimitLease lease = _passwordTries.AttemptAcquire(client);
            return lease.IsAcquired;
        }

        try
        {
            await RunSessionAsync(connection, new CliSession(_context, peer, TryPassword)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or OperationCanceledException)
        {
            // The client went away mid-answer, or the server is stopping: nothing to tell it.
        }
    }

    private async Task RunSessionAsync(ConnectionContext connection, CliSession session)
    {
        long opened = Stopwatch.GetTimestamp();
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        var reader = new TelnetLineReader();
        var lines = new List<string>();
        await WriteAsync(output, CliSession.Greeting()).ConfigureAwait(false);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        while (!session.Closing)
        {
            TimeSpan wait = session.Authenticated ? IdleTimeout : LoginTimeout - Stopwatch.GetElapsedTime(opened);
            if (wait <= TimeSpan.Zero)
            {
                break;
            }

            idle.CancelAfter(wait);
            ReadResult read = await input.ReadAsync(idle.Token).ConfigureAwait(false);
            lines.Clear();
            reader.Read(read.Buffer, lines, output);
            input.AdvanceTo(read.Buffer.End);
            foreach (string line in lines)
            {
                string answer = session.Execute(line);
                WriteText(output, answer);

                // Each answer waits for the client to take it (the pipe pauses at its limit), so a read holding thousands
                // of commands cannot pile up their answers in memory.
                await output.FlushAsync(idle.Token).ConfigureAwait(false);
                if (session.Closing)
                {
                    break;
                }
            }

            await output.FlushAsync(idle.Token).ConfigureAwait(false);
            if (read.IsCompleted)
            {
                break;
            }
        }
    }

    private static async Task WriteAsync(PipeWriter output, string text)
    {
        WriteText(output, text);
        await output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="text"/> as telnet's network virtual terminal wants it: every line ended by CR LF.</summary>
    private static void WriteText(IBufferWriter<byte> output, string text) =>
        Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n", StringComparison.Ordinal), output);

    [LoggerMessage(Level = LogLevel.Information, Message = "CLI listening on {EndPoint} (telnet)")]
    private static partial void LogListening(ILogger logger, string endPoint);

}
