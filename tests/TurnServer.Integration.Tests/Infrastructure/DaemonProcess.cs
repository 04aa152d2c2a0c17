using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using TurnServer.Hosting;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>The published <c>turnserver</c> entry point run as a child process, as an operator runs it.</summary>
internal sealed partial class DaemonProcess : IDisposable
{
    private const int SigTerm = 15;

    /// <summary>What the server logs once start-up is complete: listeners bound, pidfile written, systemd told READY=1.</summary>
    private const string ReadyLine = "ready: every listener is bound";
    private readonly ExternalProcess _process;
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly List<(string Text, TaskCompletionSource<string> Seen)> _awaited = [];

    /// <summary>Starts before a test gives up on free ports: another process takes a port just picked only now and then.</summary>
    private const int PortAttempts = 5;

    private DaemonProcess(string[] command, IDictionary<string, string>? environment = null, int? openFiles = null)
    {
        // prlimit (util-linux) sets the limit and execs the server, which so keeps its PID.
        _process = openFiles is { } limit
            ? ExternalProcess.Start("prlimit", ["--nofile=" + PortText(limit), "--", .. command], environment)
            : ExternalProcess.Start(command[0], command[1..], environment);
        _process.LineReceived += line =>
        {
            lock (_awaited)
            {
                foreach ((string text, TaskCompletionSource<string> seen) in _awaited)
                {
                    if (line.Contains(text, StringComparison.Ordinal))
                    {
                        seen.TrySetResult(line);
                    }
                }
            }

            if (line.Contains(ReadyLine, StringComparison.Ordinal))
            {
                _listening.TrySetResult(line);
            }
        };
        if (_process.Output.Contains(ReadyLine, StringComparison.Ordinal))
        {
            _listening.TrySetResult("already");
        }
    }

    public int Id => _process.Id;

    public string Output => _process.Output;

    public static DaemonProcess Start(params string[] args) => new(Command(AppContext.BaseDirectory, args));

    public static DaemonProcess Start(IDictionary<string, string> environment, params string[] args) => new(Command(AppContext.BaseDirectory, args), environment);

    /// <summary>Starts the server with <paramref name="openFiles"/> as its soft and hard RLIMIT_NOFILE (<c>ulimit -n</c>).</summary>
    public static DaemonProcess StartWithOpenFilesLimit(int openFiles, params string[] args) => new(Command(AppContext.BaseDirectory, args), openFiles: openFiles);

    /// <summary>Starts the copy of the server in <paramref name="serverDirectory"/> (see <see cref="CopyServerTo"/>).</summary>
    public static DaemonProcess StartFrom(string serverDirectory, params string[] args) => new(Command(serverDirectory, args));

    /// <summary>Starts a published server, <paramref name="executable"/> being its apphost (as the container image runs it).</summary>
    public static DaemonProcess StartPublished(string executable, params string[] args) => new([executable, .. args]);

    /// <summary>
    /// Starts a server on a port from <see cref="LoopbackPorts"/> and waits until it listens. The server binds a second
    /// or so after the pick, and a server another test assembly starts may take the port meanwhile: a start that fails
    /// with "address already in use" is retried on a fresh port. Fails the test if the server stops for another reason.
    /// </summary>
    public static Task<(DaemonProcess Daemon, int Port)> StartOnFreePortAsync(Func<int, DaemonProcess> start) =>
        OnFreePortAsync(consecutive: 1, port => StartListeningAsync(start(port)));

    /// <summary>As <see cref="StartOnFreePortAsync"/>, for a server on two ports: a free one and the one above it.</summary>
    public static async Task<(DaemonProcess Daemon, int Port, int NextPort)> StartOnFreePortsAsync(Func<int, int, DaemonProcess> start)
    {
        (DaemonProcess daemon, int port) = await OnFreePortAsync(consecutive: 2, port => StartListeningAsync(start(port, port + 1)));
        return (daemon, port, port + 1);
    }

    /// <summary>Runs to completion (as <see cref="RunAsync"/>) on a port from <see cref="LoopbackPorts"/>, retried on a fresh port as <see cref="StartOnFreePortAsync"/> is.</summary>
    public static Task<(ToolResult Result, int Port)> RunOnFreePortAsync(Func<int, string[]> args) =>
        OnFreePortAsync(consecutive: 1, async port =>
        {
            ToolResult result = await RunAsync(args(port));
            return PortTaken(result.ExitCode, result.Output) ? null : result;
        });

    /// <summary>
    /// Copies the server's files (those its deps.json names, with turnserver.dll) into <paramref name="directory"/>,
    /// readable by every user: a server that gives up root must still load its assemblies, wherever the checkout is.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static void CopyServerTo(string directory)
    {
        using var deps = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "turnserver.deps.json")));
        var files = new HashSet<string>(StringComparer.Ordinal) { "turnserver.dll", "turnserver.deps.json", "turnserver.runtimeconfig.json" };
        foreach (System.Text.Json.JsonProperty target in deps.RootElement.GetProperty("targets").EnumerateObject())
        {
            foreach (System.Text.Json.JsonProperty library in target.Value.EnumerateObject())
            {
                // Managed and native assets land in the output by file name; RID-specific ones keep their runtimes/ path.
                foreach (string kind in new[] { "runtime", "native", "runtimeTargets" })
                {
                    if (library.Value.TryGetProperty(kind, out System.Text.Json.JsonElement assets))
                    {
                        files.UnionWith(assets.EnumerateObject().Select(a => kind == "runtimeTargets" ? a.Name : Path.GetFileName(a.Name)));
                    }
                }
            }
        }

        const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(directory, Readable);
        foreach (string file in files.Where(f => File.Exists(Path.Combine(AppContext.BaseDirectory, f))))
        {
            string destination = Path.Combine(directory, file);
            for (string? folder = Path.GetDirectoryName(destination); folder is not null && folder.Length > directory.Length; folder = Path.GetDirectoryName(folder))
            {
                Directory.CreateDirectory(folder);
                File.SetUnixFileMode(folder, Readable);
            }

            File.Copy(Path.Combine(AppContext.BaseDirectory, file), destination);
            File.SetUnixFileMode(destination, Readable);
        }
    }

    /// <summary>Sends a signal by number (SIGHUP 1, SIGUSR1 10, SIGUSR2 12, SIGTERM 15).</summary>
    public void Signal(int signal) => SendSignal(_process.Id, signal);

    /// <summary>Sends a signal to a process this test started.</summary>
    public static void SendSignal(int pid, int signal) => Assert.Equal(0, Kill(pid, signal));

    /// <summary>
    /// Starts watching for an output line containing <paramref name="text"/>; await the result after causing it.
    /// Fails the test if no such line comes within 30 s.
    /// </summary>
    public Func<Task<string>> ExpectLine(string text)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_awaited)
        {
            _awaited.Add((text, seen));
        }

        return async () =>
        {
            Task finished = await Task.WhenAny(seen.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(finished == seen.Task, $"no line with '{text}' came:\n{Output}");
            return await seen.Task;
        };
    }

    /// <summary>Waits for the process to end by itself and returns its exit code.</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    /// <summary>Runs to completion (for --help and bad configurations).</summary>
    public static async Task<ToolResult> RunAsync(params string[] args)
    {
        using var daemon = new DaemonProcess(Command(AppContext.BaseDirectory, args));
        int code = await daemon._process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return new ToolResult(code, daemon.Output);
    }

    /// <summary>
    /// Tries <paramref name="attempt"/> on ports from <see cref="LoopbackPorts"/> (<paramref name="consecutive"/> in a
    /// row) until it does not come back null, which it does when the server found a port taken.
    /// </summary>
    private static async Task<(T Result, int Port)> OnFreePortAsync<T>(int consecutive, Func<int, Task<T?>> attempt)
        where T : class
    {
        for (int i = 0; i < PortAttempts; i++)
        {
            int port = LoopbackPorts.FreeServerPort(consecutive: consecutive);
            if (await attempt(port) is { } result)
            {
                return (result, port);
            }
        }

        throw new InvalidOperationException($"{PortAttempts} times a free port was taken before the server bound it");
    }

    /// <summary>
    /// <paramref name="daemon"/> once it listens; null, with the daemon disposed, if it stopped because a port was
    /// taken. Fails the test if it stops otherwise or does not listen within 60 s.
    /// </summary>
    private static async Task<DaemonProcess?> StartListeningAsync(DaemonProcess daemon)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<int> exited = daemon._process.WaitForExitAsync(timeout.Token);
        await Task.WhenAny(daemon._listening.Task, exited);
        if (daemon._listening.Task.IsCompleted)
        {
            timeout.Cancel(); // ends the wait for exit, which would otherwise outlive the process object
            return daemon;
        }

        string output = daemon.Output;
        bool taken = exited.IsCompletedSuccessfully && PortTaken(exited.Result, output);
        daemon.Dispose();
        Assert.True(taken, "the server did not start listening:\n" + output);
        return null;
    }

    /// <summary>
    /// The server stopped at start because an address it was to listen on was in use: the socket's "Address already in
    /// use", or Kestrel's "address already in use" for the metrics and web admin listeners.
    /// </summary>
    private static bool PortTaken(int exitCode, string output) =>
        exitCode == ExitCodes.CannotStart && output.Contains("address already in use", StringComparison.OrdinalIgnoreCase);

    private static string[] Command(string serverDirectory, string[] args) =>
        [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(serverDirectory, "turnserver.dll"), .. args];

    /// <summary>Sends SIGTERM, as systemd does, and returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        Assert.Equal(0, Kill(_process.Id, SigTerm));
        return await _process.WaitForExitAsync(TimeSpan.FromSeconds(15));
    }

    public static string WriteConfig(string directory, string text)
    {
        string path = Path.Combine(directory, "turnserver.conf");
        File.WriteAllText(path, text);
        return path;
    }

    public static string PortText(int port) => port.ToString(CultureInfo.InvariantCulture);

    public static IPEndPoint Loopback(int port) => new(IPAddress.Loopback, port);

    public void Dispose() => _process.Dispose();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
