using System.Diagnostics;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// coTURN's <c>-o</c>/<c>--daemon</c>, which init scripts pass (Debian's <c>/etc/init.d/coturn</c> runs
/// <c>turnserver -c /etc/turnserver.conf -o -v</c> and returns only when it does). A .NET process cannot fork, so the
/// command starts itself again in the background and waits until that copy has bound its listeners (it reports
/// <c>READY=1</c>, sd_notify's datagram, to a private socket) or has failed: the caller gets 0, or the server's exit
/// code and every message it wrote, as with a forking daemon. The copy's output comes through pipes this command
/// forwards until then (after a success, lines still in flight may be cut); afterwards those pipes are closed and .NET drops console writes to them, so the copy holds neither the
/// terminal nor a caller's pipe (<c>$(turnserver -o)</c> returns). It also starts a new session, away from the
/// terminal's signals. Logs that should outlive start-up go to <c>log-file</c> or <c>syslog</c>, as with coTURN.
/// </summary>
public static partial class DaemonMode
{
    /// <summary>Set to 1 in the environment of the background copy.</summary>
    public const string ChildVariable = "TURNSERVER_DAEMON_CHILD";

    /// <summary>True in the background copy started by <see cref="StartInBackgroundAsync"/>.</summary>
    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>
    /// Starts this program again with <paramref name="args"/> in the background and waits for it to be ready.
    /// Returns the exit code for this (foreground) process: 0 once the copy is ready, else the copy's exit code.
    /// </summary>
    public static async Task<int> StartInBackgroundAsync(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string name = "turnserver-daemon-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N");
        using var notifications = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notifications.Bind(new UnixDomainSocketEndPoint("\0" + name)); // abstract: nothing to clean up

        string program = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (Path.GetFileNameWithoutExtension(program) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location); // run as `dotnet turnserver.dll`
        }

        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment[ChildVariable] = "1";
        start.Environment["NOTIFY_SOCKET"] = "@" + name;
        CloseOnExec();
        using Process child = Process.Start(start) ?? throw new InvalidOperationException("the background process did not start");
        child.StandardInput.Close();
        child.OutputDataReceived += (_, e) => Forward(Console.Out, e.Data);
        child.ErrorDataReceived += (_, e) => Forward(Console.Error, e.Data);
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        using var exited = new CancellationTokenSource();
        Task waiting = child.WaitForExitAsync().ContinueWith(_ => exited.Cancel(), TaskScheduler.Default);
        byte[] buffer = new byte[1024];
        try
        {
            while (true)
            {
                int length = await notifications.ReceiveAsync(buffer, SocketFlags.None, exited.Token).ConfigureAwait(false);
                if (Encoding.UTF8.GetString(buffer, 0, length).Split('\n').Contains("READY=1"))
                {
                    return 0;
                }
            }
        }
        catch (OperationCanceledException)
        {
            await waiting.ConfigureAwait(false);
            child.WaitForExit(); // its last messages, forwarded
            return child.ExitCode;
        }
    }

    private static void Forward(TextWriter to, string? line)
    {
        if (line is not null)
        {
            to.WriteLine(line);
        }
    }

    /// <summary>
    /// Marks every descriptor above 2 close-on-exec, so the background copy inherits none that this process got from
    /// its caller (a pipe the caller waits on would never close). This process exits soon, so it loses nothing.
    /// </summary>
    private static void CloseOnExec()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (string entry in Directory.GetFiles("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int fd) && fd > 2)
            {
                int flags = fcntl(fd, FGetFd, 0);
                if (flags >= 0)
                {
                    _ = fcntl(fd, FSetFd, flags | FdCloExec);
                }
            }
        }
    }

    private const int FGetFd = 1;
    private const int FSetFd = 2;
    private const int FdCloExec = 1;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    /// <summary>In the background copy: leaves the caller's session, so its terminal and process group signals no longer reach the server.</summary>
    public static void BeginSession()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = setsid(); // fails only if already a session leader, which is as detached as it gets
        }
    }

    [LibraryImport("libc")]
    private static partial int setsid();
}
