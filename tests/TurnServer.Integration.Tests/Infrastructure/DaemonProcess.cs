using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

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

    private DaemonProcess(IEnumerable<string> args, IDictionary<string, string>? environment = null, string? serverDirectory = null, int? openFiles = null)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        string[] command = [dotnet, Path.Combine(serverDirectory ?? AppContext.BaseDirectory, "turnserver.dll"), .. args];
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

    public static DaemonProcess Start(params string[] args) => new(args);

    public static DaemonProcess Start(IDictionary<string, string> environment, params string[] args) => new(args, environment);

    /// <summary>Starts the server with <paramref name="openFiles"/> as its soft and hard RLIMIT_NOFILE (<c>ulimit -n</c>).</summary>
    public static DaemonProcess StartWithOpenFilesLimit(int openFiles, params string[] args) => new(args, openFiles: openFiles);

    /// <summary>Starts the copy of the server in <paramref name="serverDirectory"/> (see <see cref="CopyServerTo"/>).</summary>
    public static DaemonProcess StartFrom(string serverDirectory, params string[] args) => new(args, serverDirectory: serverDirectory);

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
        using var daemon = new DaemonProcess(args);
        int code = await daemon._process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return new ToolResult(code, daemon.Output);
    }

    public async Task WaitUntilListeningAsync()
    {
        Task finished = await Task.WhenAny(_listening.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(finished == _listening.Task, "the server did not start listening:\n" + Output);
    }

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
