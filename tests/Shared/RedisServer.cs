using System.Diagnostics;
using System.Globalization;

namespace TurnServer.Tests.Shared;

/// <summary>
/// A throwaway Redis server from Debian's redis-server package: started in the foreground on a free loopback port
/// with a password and no persistence, its working directory a temporary one. Ready once it logs that it accepts
/// connections. Disposing ends it by its PID and deletes the directory.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    public const string Password = "redis-test-pw";

    /// <summary>The database number the tests use (not 0, so dbname is shown to be honoured).</summary>
    public const int Database = 2;

    private const string ServerPath = "/usr/bin/redis-server";
    private readonly Process _process;
    private readonly string _directory;

    private RedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The server's process, for a test that stops and continues it (SIGSTOP, SIGCONT) to hold up its clients.</summary>
    public int ProcessId => _process.Id;

    /// <summary>The connection string as an operator writes coTURN's redis-userdb.</summary>
    public string ConnInfo => $"ip=127.0.0.1 port={Port.ToString(CultureInfo.InvariantCulture)} dbname={Database} password={Password} connect_timeout=5";

    public static async Task<RedisServer> StartAsync()
    {
        Assert.True(File.Exists(ServerPath), "Debian's redis-server package is needed (.ci/run installs it): no " + ServerPath);
        string directory = Directory.CreateTempSubdirectory("turnserver-redis-").FullName;
        int port = LoopbackPorts.FreeServerPort();
        var start = new ProcessStartInfo(ServerPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        foreach (string arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--requirepass", Password, "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", directory })
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start)!;
        var server = new RedisServer(process, directory, port);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data is null)
            {
                ready.TrySetException(new InvalidOperationException("redis-server exited: " + log));
            }
            else if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs redis-cli against the test database and returns its output.</summary>
    public Task<string> CliAsync(params string[] args) => RunCliAsync(null, args);

    /// <summary>Runs redis-cli against the test database with <paramref name="script"/> (commands, one per line) on its input.</summary>
    public Task<string> CliScriptAsync(string script) => RunCliAsync(script, []);

    /// <summary>
    /// Subscribes with <c>redis-cli psubscribe <paramref name="pattern"/></c>, as an operator's script does; returns once
    /// Redis has confirmed the subscription, so every message published afterwards is seen.
    /// </summary>
    public Task<RedisSubscription> SubscribeAsync(string pattern) => RedisSubscription.StartAsync(CliStart(["psubscribe", pattern]));

    private ProcessStartInfo CliStart(string[] args)
    {
        var start = new ProcessStartInfo("/usr/bin/redis-cli") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in (string[])["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-a", Password, "--no-auth-warning", "-n", Database.ToString(CultureInfo.InvariantCulture), .. args])
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    private async Task<string> RunCliAsync(string? script, string[] args)
    {
        using Process cli = Process.Start(CliStart(args))!;
        await cli.StandardInput.WriteAsync(script ?? string.Empty);
        cli.StandardInput.Close();
        Task<string> output = cli.StandardOutput.ReadToEndAsync();
        Task<string> error = cli.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await cli.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            cli.Kill(entireProcessTree: true);
            throw;
        }

        string text = await output;
        Assert.True(cli.ExitCode == 0 && !text.StartsWith("(error)", StringComparison.Ordinal) && !text.StartsWith("ERR", StringComparison.Ordinal), $"redis-cli {string.Join(' ', args)}: {text}{await error}");
        return text.TrimEnd();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
