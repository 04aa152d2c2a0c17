using System.Diagnostics;
using System.Globalization;

namespace TurnServer.Tests.Shared;

/// <summary>
/// A throwaway PostgreSQL server from Debian's postgresql package: initdb into a temporary directory, started with
/// pg_ctl on a free loopback port (its socket directory inside the temporary directory), coTURN's schema.sql loaded into
/// a database "coturn". PostgreSQL refuses to run as root, so when the tests run as root it runs as the "postgres" user
/// through runuser. Disposing stops it (pg_ctl stop, then its postmaster PID if that did not work) and deletes the directory.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string CoturnSchema = "/usr/share/coturn/schema.sql";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private readonly string _directory;
    private readonly string _bin;
    private readonly bool _asPostgres;

    private PostgresServer(string directory, string bin, bool asPostgres, int port)
    {
        _directory = directory;
        _bin = bin;
        _asPostgres = asPostgres;
        Port = port;
    }

    public int Port { get; }

    public string User => _asPostgres ? "postgres" : Environment.UserName;

    /// <summary>A libpq connection string to the "coturn" database, as an operator writes psql-userdb.</summary>
    public string ConnInfo => $"host=127.0.0.1 port={Port.ToString(CultureInfo.InvariantCulture)} dbname=coturn user={User} connect_timeout=10";

    public static async Task<PostgresServer> StartAsync()
    {
        string bin = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            ?? throw new InvalidOperationException("Debian's postgresql package is needed (.ci/run installs it): no /usr/lib/postgresql/*/bin/initdb");
        Assert.True(File.Exists(CoturnSchema), "Debian's coturn package is needed for " + CoturnSchema);
        bool asPostgres = Environment.UserName == "root";
        string directory = Directory.CreateTempSubdirectory("turnserver-pg-").FullName;
        if (asPostgres)
        {
            await RunAsync("chown", ["postgres", directory]);
        }

        var server = new PostgresServer(directory, bin, asPostgres, LoopbackPorts.FreeServerPort());
        try
        {
            await server.ToolAsync("initdb", ["-D", server.DataDirectory, "-A", "trust", "-U", server.User, "--no-sync"]);
            await server.ToolAsync("pg_ctl", [
                "-D", server.DataDirectory, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60",
                "-o", $"-c listen_addresses=127.0.0.1 -c port={server.Port} -c unix_socket_directories={directory} -c fsync=off", "start"]);
            await server.ToolAsync("createdb", ["-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "-U", server.User, "coturn"]);
            await server.PsqlAsync("-f", CoturnSchema);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>Runs psql against the coturn database and returns its output.</summary>
    public Task<string> PsqlAsync(params string[] args) =>
        ToolAsync("psql", ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", User, "-d", "coturn", "-v", "ON_ERROR_STOP=1", "-q", "-t", "-A", .. args]);

    public async ValueTask DisposeAsync()
    {
        string pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            try
            {
                await ToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "30", "stop"]);
            }
            catch (InvalidOperationException)
            {
                // Fall through to ending it by its PID.
            }

            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).First(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                try
                {
                    using Process postmaster = Process.GetProcessById(pid);
                    postmaster.Kill(entireProcessTree: true); // its backends too
                    postmaster.WaitForExit(10_000);
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
            }
        }

        Directory.Delete(_directory, recursive: true);
    }

    private Task<string> ToolAsync(string tool, string[] args) =>
        _asPostgres
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args])
            : RunAsync(Path.Combine(_bin, tool), args);

    private static async Task<string> RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ToolTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish in {ToolTimeout.TotalSeconds} s");
        }

        string text = await output + await error;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {text}");
        }

        return await output;
    }
}
