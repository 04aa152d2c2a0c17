using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>The daemon as an operator runs it: a config file, a pidfile, SIGTERM, exit codes and messages.</summary>
public sealed class DaemonProcessTests : IDisposable
{
    /// <summary>Debian's example configuration; the package installs /etc/turnserver.conf as a copy of it.</summary>
    private const string DebianExample = "/usr/share/doc/coturn/examples/etc/turnserver.conf";

    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Runs_on_a_config_file_writes_its_pidfile_and_exits_0_on_sigterm()
    {
        string pidFile = Path.Combine(_directory, "run", "turnserver.pid");
        string logFile = Path.Combine(_directory, "turn.log");
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", DaemonProcess.WriteConfig(_directory, $"""
            # a coTURN-style configuration
            listening-ip=127.0.0.1
            listening-port={p}
            realm=example.org
            lt-cred-mech
            user=alice:secret
            pidfile={pidFile}
            log-file={logFile}
            """)));
        using DaemonProcess _ = daemon;
        Assert.Equal(DaemonProcess.PortText(daemon.Id), File.ReadAllText(pidFile).Trim());

        using (var client = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Binding)));
            await client.AllocateAsync();
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.False(File.Exists(pidFile));
        Assert.Contains("reason: server shutdown", daemon.Output, StringComparison.Ordinal);
        // coTURN's naming without simple-log: the date goes before the extension.
        string dated = Assert.Single(Directory.GetFiles(_directory, "turn*.log"));
        Assert.Matches(@"/turn_\d{4}-\d{2}-\d{2}\.log$", dated);
        string log = File.ReadAllText(dated);
        Assert.Contains("Listening on UDP 127.0.0.1:" + DaemonProcess.PortText(port), log, StringComparison.Ordinal);
        Assert.Matches(@"session 0{17}1: new, realm=<example\.org>, username=<alice>, lifetime=600, UDP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:", log);
        Assert.Matches(@"session 0{17}1: usage: realm=<example\.org>, username=<alice>, rp=1, rb=[1-9]\d+, sp=1, sb=[1-9]\d+", log); // the Allocate and its answer
        Assert.Matches(@"session 0{17}1: peer usage: realm=<example\.org>, username=<alice>, rp=0, rb=0, sp=0, sb=0", log);
        Assert.Matches(@"session 0{17}1: closed \(2nd stage\), user <alice> realm <example\.org> origin <>, local 127\.0\.0\.1:\d+, remote 127\.0\.0\.1:\d+, reason: server shutdown, lifetime=\d+s, type=UDP", log);
        Assert.DoesNotContain("secret", log, StringComparison.Ordinal);
        using var rebind = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        rebind.Bind(DaemonProcess.Loopback(port));
    }

    /// <summary>
    /// coTURN's proc-user: started as root, the server binds its listeners, then runs as the user, and relay ports
    /// (which need no privilege) keep working. Not started as root, it cannot become another user and says so.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Proc_user_gives_up_root_once_listening_and_the_relay_still_works()
    {
        string server = Directory.CreateDirectory(Path.Combine(_directory, "server")).FullName;
        DaemonProcess.CopyServerTo(server);
        File.SetUnixFileMode(_directory, File.GetUnixFileMode(server)); // 0755, as CopyServerTo left it: the copy below must stay readable
        string Config(int port) => DaemonProcess.WriteConfig(_directory, $"""
            listening-ip=127.0.0.1
            listening-port={port}
            min-port=20000
            max-port=32767
            realm=example.org
            lt-cred-mech
            user=alice:secret
            allow-loopback-peers
            proc-user=nobody
            """);

        if (Environment.UserName != "root")
        {
            ToolResult refused = (await DaemonProcess.RunOnFreePortAsync(p => ["-c", Config(p)])).Result;
            Assert.Equal(69, refused.ExitCode);
            Assert.Contains("setgid(65534) failed", refused.Output, StringComparison.Ordinal);
            return;
        }

        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.StartFrom(server, "-c", Config(p)));
        using DaemonProcess _ = daemon;
        Assert.Contains("now running as user 65534, group 65534", daemon.Output, StringComparison.Ordinal); // logged before the ready line
        string status = File.ReadAllText($"/proc/{daemon.Id}/status");
        Assert.Matches(@"\nUid:\t65534\t65534\t65534\t65534\n", status);
        Assert.Matches(@"\nGid:\t65534\t65534\t65534\t65534\n", status);
        Assert.Matches(@"\nGroups:[\t ]*\n", status); // no supplementary groups left

        using (var peer = new UdpEchoPeer())
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port), "alice", "secret"))
        {
            await client.AllocateAsync();
            await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
            byte[] frame = new byte[4 + 8];
            ChannelData.WriteHeader(frame, 0x4001, 8);
            client.SendRaw(frame);
            Assert.Equal(frame, await client.ReceiveAsync());
        }

        Assert.Equal(0, await daemon.TerminateAsync());
    }

    /// <summary>Ctrl-C in a terminal (SIGINT) stops the server as cleanly as SIGTERM: allocations closed, port freed, exit 0.</summary>
    [Fact]
    public async Task Sigint_stops_cleanly_with_exit_0()
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p =>
            DaemonProcess.Start("-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:secret"));
        using DaemonProcess _ = daemon;
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            await client.AllocateAsync();
        }

        daemon.Signal(2);
        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("reason: server shutdown", daemon.Output, StringComparison.Ordinal);
        using var rebind = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        rebind.Bind(DaemonProcess.Loopback(port));
    }

    /// <summary>
    /// Regression: SIGTERM with a TCP client that had stopped reading ended in an unhandled exception (exit 134): the
    /// connection never finished closing, and the listener's stop threw once the host's shutdown timeout ran out.
    /// </summary>
    [Fact]
    public async Task Sigterm_exits_0_while_a_tcp_client_has_stopped_reading()
    {
        (DaemonProcess daemon, int port, int metrics) = await DaemonProcess.StartOnFreePortsAsync((p, m) => DaemonProcess.Start(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:secret",
            "--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=" + DaemonProcess.PortText(m)));
        using DaemonProcess _ = daemon;
        using StunStreamClient client = await StunStreamClient.ConnectAsync(DaemonProcess.Loopback(port), receiveBufferSize: 4096);
        await client.AllocateAsync();

        // 400,000 Binding requests whose answers (over 12 MB) the client never reads: more than the kernel buffers and
        // the server's 1 MB queue for the client hold, so once the server has answered them its write is stuck.
        byte[] binding = client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false);
        byte[] burst = [.. Enumerable.Repeat(binding, 8000).SelectMany(b => b)];
        for (int i = 0; i < 50; i++)
        {
            await client.SendRawAsync(burst);
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Poll.UntilAsync(
            async () => PrometheusText.Parse(await http.GetStringAsync(new Uri("http://127.0.0.1:" + DaemonProcess.PortText(metrics) + "/metrics"))).Value("stun_binding_request") >= 400_000,
            TimeSpan.FromSeconds(30),
            "the server has answered every request");

        Assert.Equal(0, await daemon.TerminateAsync());
    }

    /// <summary>coTURN's Verbose (-V) logs every request with its user and outcome; verbose (-v) alone does not. No secret is logged.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Extra_verbose_logs_each_request_and_its_outcome(bool extraVerbose)
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:pw-of-alice", extraVerbose ? "-V" : "-v"));
        using DaemonProcess _ = daemon;
        Func<Task<string>>? answered = extraVerbose ? daemon.ExpectLine(": Allocate request, user alice: success") : null;
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port), "alice", "pw-of-alice"))
        {
            await client.AllocateAsync();
        }

        if (answered is not null)
        {
            Assert.Contains("UDP 127.0.0.1:", await answered(), StringComparison.Ordinal);
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.Equal(extraVerbose, daemon.Output.Contains(": Allocate request, user -: error 401", StringComparison.Ordinal)); // the challenge
        Assert.DoesNotContain("pw-of-alice", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>coTURN's log-binding logs each Binding request and its outcome; other requests stay out of the log.</summary>
    [Fact]
    public async Task Log_binding_logs_binding_requests_and_nothing_else()
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:pw-of-alice", "--log-binding"));
        using DaemonProcess _ = daemon;
        Func<Task<string>> logged = daemon.ExpectLine(": Binding request, user -: success");
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port), "alice", "pw-of-alice"))
        {
            await client.AllocateAsync();
            Assert.Equal(0, StunUdpClient.Code(await client.ExchangeAsync(client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false))));
        }

        Assert.Contains("UDP 127.0.0.1:", await logged(), StringComparison.Ordinal);
        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("Allocate request", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Regression: the log file's timestamps were local time, while stdout's are UTC and compat.md says both are. A
    /// server in Tokyo (UTC+9, no daylight saving) must write the UTC time.
    /// </summary>
    [Fact]
    public async Task Log_file_timestamps_are_utc()
    {
        const string Tokyo = "/usr/share/zoneinfo/Asia/Tokyo";
        Assert.True(File.Exists(Tokyo), "Debian's tzdata package is needed: no " + Tokyo);
        string log = Path.Combine(_directory, "turn.log");
        DateTime before = DateTime.UtcNow.AddSeconds(-1); // the stamp is cut to the second
        (DaemonProcess started, _) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start(
            new Dictionary<string, string> { ["TZ"] = "Asia/Tokyo" },
            "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:pw-of-alice", "--log-file=" + log, "--simple-log"));
        using DaemonProcess daemon = started;
        Assert.Equal(0, await daemon.TerminateAsync());
        DateTime after = DateTime.UtcNow;

        string ready = Assert.Single(File.ReadAllLines(log), l => l.Contains("ready: every listener is bound", StringComparison.Ordinal));
        DateTime stamp = DateTime.ParseExact(ready[..19], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        Assert.InRange(stamp, before, after);
    }

    /// <summary>
    /// Regression: stdout's lines escaped only the newline, so a client's USERNAME with a CR, an escape sequence or
    /// U+2028 reached docker and kubectl logs as it was, able to rewrite or split the line an operator reads.
    /// </summary>
    [Fact]
    public async Task Control_characters_a_client_sends_reach_stdout_escaped()
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=example.org", "--user=alice:pw-of-alice", "--log-binding"));
        using DaemonProcess _ = daemon;
        Func<Task<string>> logged = daemon.ExpectLine(": Binding request, user x");
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            byte[] binding = client.Build(StunMethod.Binding, (ref StunMessageWriter w) => w.WriteText(StunAttributeType.Username, "x\r\u001b[31m\u2028y"), TransactionId.NewRandom(), sign: false);
            Assert.Equal(0, StunUdpClient.Code(await client.ExchangeAsync(binding)));
        }

        Assert.EndsWith(": Binding request, user x\\x0D\\x1B[31m\\u2028y: success", await logged(), StringComparison.Ordinal);
        Assert.Equal(0, await daemon.TerminateAsync());
    }

    /// <summary>
    /// Init scripts run coTURN with -o and wait for the command to return (Debian's: turnserver -c ... -o -v). The
    /// command returns 0 once the server is listening, leaving it in the background under its own session, found by
    /// its pidfile.
    /// </summary>
    [Fact]
    public async Task Daemon_mode_returns_once_listening_and_leaves_the_server_running_in_the_background()
    {
        string pidFile = Path.Combine(_directory, "turnserver.pid");
        (ToolResult started, int port) = await DaemonProcess.RunOnFreePortAsync(p => ["-c", DaemonProcess.WriteConfig(_directory, $"""
            listening-ip=127.0.0.1
            listening-port={p}
            realm=example.org
            lt-cred-mech
            user=alice:secret
            pidfile={pidFile}
            """), "-o"]);
        try
        {
            Assert.Equal(0, started.ExitCode);
            int pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
            string[] stat = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(pid.ToString(CultureInfo.InvariantCulture), stat[3]); // its own session (setsid)
            Assert.Equal("0", stat[4]); // and no controlling terminal
            using var client = new StunUdpClient(DaemonProcess.Loopback(port));
            await client.AllocateAsync();
        }
        finally
        {
            // The server this test started in the background ends with the test, whatever failed above.
            await TerminateBackgroundServerAsync(pidFile);
        }

        Assert.False(File.Exists(pidFile));
    }

    [Fact]
    public async Task Daemon_mode_reports_a_failed_start_with_its_message_and_exit_code()
    {
        using var holder = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        holder.Bind(DaemonProcess.Loopback(0));
        string pidFile = Path.Combine(_directory, "turnserver.pid");
        string config = DaemonProcess.WriteConfig(_directory, $"""
            listening-ip=127.0.0.1
            listening-port={((System.Net.IPEndPoint)holder.LocalEndPoint!).Port}
            no-auth
            pidfile={pidFile}
            """);

        ToolResult result = await DaemonProcess.RunAsync("-c", config, "--daemon");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("ERROR: cannot start: Address already in use", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(pidFile));
    }

    [Fact]
    public async Task An_unknown_proc_user_stops_start_up_naming_the_line()
    {
        string config = DaemonProcess.WriteConfig(_directory, """
            realm=example.org
            proc-user=no-such-user-here
            """);

        ToolResult result = await DaemonProcess.RunAsync("-c", config);

        Assert.Equal(78, result.ExitCode);
        Assert.Contains("turnserver.conf:2: invalid value 'no-such-user-here' for option 'proc-user': no such user on this system", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_value_stops_start_up_naming_option_value_and_line()
    {
        string config = DaemonProcess.WriteConfig(_directory, """
            realm=example.org
            lt-cred-mech

            listening-port=34x78
            """);

        ToolResult result = await DaemonProcess.RunAsync("-c", config);

        Assert.Equal(78, result.ExitCode);
        Assert.Contains("turnserver.conf:4", result.Output, StringComparison.Ordinal);
        Assert.Contains("listening-port", result.Output, StringComparison.Ordinal);
        Assert.Contains("34x78", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening on", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_every_option_with_its_default()
    {
        ToolResult result = await DaemonProcess.RunAsync("--help");
        Assert.Equal(0, result.ExitCode);
        foreach (string option in new[] { "--listening-port", "-p", "--lt-cred-mech", "--static-auth-secret", "--min-port", "--max-port", "--stale-nonce", "--prometheus", "--no-cli" })
        {
            Assert.Contains(option, result.Output, StringComparison.Ordinal);
        }

        Assert.Contains("3478", result.Output, StringComparison.Ordinal);
        Assert.Contains("49152", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Debians_systemd_unit_command_line_starts_the_server()
    {
        // coturn.service: ExecStart=/usr/bin/turnserver -c /etc/turnserver.conf --pidfile= (an empty pidfile: none).
        string unit = File.ReadAllText("/lib/systemd/system/coturn.service");
        string[] execStart = unit.Split('\n').Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["/usr/bin/turnserver", "-c", "/etc/turnserver.conf", "--pidfile="], execStart);

        // The unit's command line on a copy of the pristine file: /etc/turnserver.conf may be an operator's, with fixed ports.
        string config = Path.Combine(_directory, "turnserver.conf");
        File.Copy(DebianExample, config);
        string[] args = [.. execStart[1..].Select(arg => arg == "/etc/turnserver.conf" ? config : arg)];
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p =>
            DaemonProcess.Start([.. args, "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p)]));
        using DaemonProcess _ = daemon;
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Binding)));
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("pidfile", daemon.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Debians_own_example_config_starts_with_warnings_and_coturn_script_flags_are_accepted()
    {
        Assert.True(File.Exists(DebianExample), "Debian's coturn package is needed (.ci/run installs it)");
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start(
            "-c", DebianExample, "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p),
            "--no-cli", "--cli-password=qwerty", "--userdb=" + Path.Combine(_directory, "turndb"), "--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=0"));
        using DaemonProcess _ = daemon;
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Binding)));
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("'cli-password'", daemon.Output, StringComparison.Ordinal); // taken, without a warning
        Assert.DoesNotContain("'no-cli'", daemon.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("CLI listening", daemon.Output, StringComparison.Ordinal); // no-cli wins over the password

        Assert.DoesNotContain("qwerty", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Regression: a client that opened TCP connections until the server reached its open files limit crashed it (the
    /// .NET runtime aborts with "Out of memory." when it cannot have a descriptor for a new thread or assembly). Now
    /// clients hold at most what the limit leaves after the server's reserve: past that a connection is closed at once
    /// and an Allocate gets 508, the server keeps answering, and both work again once a descriptor is given back.
    /// </summary>
    [Fact]
    public async Task Clients_cannot_use_up_the_open_files_limit_and_get_service_again_when_descriptors_free_up()
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.StartWithOpenFilesLimit(
            512, "-n", "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--realm=" + TestServer.Realm,
            "--user=" + TestServer.User + ":" + TestServer.Password, "--no-tls", "--no-dtls"));
        using DaemonProcess _ = daemon;
        Match budget = Regex.Match(daemon.Output, @"Open files limit 512: \d+ open at start, 144 kept for the server, (\d+) for client connections");
        Assert.True(budget.Success, daemon.Output);
        int capacity = int.Parse(budget.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(capacity, 100, 512 - 144);

        IPEndPoint server = DaemonProcess.Loopback(port);
        Func<Task<string>> exhausted = daemon.ExpectLine("Out of descriptors for clients (all " + capacity.ToString(CultureInfo.InvariantCulture) + " in use)");
        Func<Task<string>> freed = daemon.ExpectLine("Descriptors for clients are free again");
        var held = new List<StunStreamClient>();
        try
        {
            // One address gets a quarter of the budget; its next connection is closed, while another address gets in.
            for (int i = 0; i < capacity / 4; i++)
            {
                held.Add(await StunStreamClient.ConnectAsync(server));
                Assert.Equal(0, StunTestClient.Code(await held[i].RequestAsync(StunMethod.Binding)));
            }

            using (StunStreamClient greedy = await StunStreamClient.ConnectAsync(server))
            {
                await greedy.WaitForCloseAsync(TimeSpan.FromSeconds(10));
            }

            using (StunStreamClient other = await StunStreamClient.ConnectAsync(server, localAddress: IPAddress.Parse("127.0.0.9")))
            {
                Assert.Equal(0, StunTestClient.Code(await other.RequestAsync(StunMethod.Binding)));
            }

            held.ForEach(client => client.Dispose());
            held.Clear();

            // So the budget is spent from five addresses.
            for (int i = 0; i < capacity; i++)
            {
                held.Add(await StunStreamClient.ConnectAsync(server, localAddress: IPAddress.Parse("127.0.0." + (2 + (i % 5)).ToString(CultureInfo.InvariantCulture))));
                Assert.Equal(0, StunTestClient.Code(await held[i].RequestAsync(StunMethod.Binding)));
            }

            using (StunStreamClient refused = await StunStreamClient.ConnectAsync(server))
            {
                await refused.WaitForCloseAsync(TimeSpan.FromSeconds(10));
            }

            await exhausted();
            using (var udp = new StunUdpClient(server))
            {
                Assert.Equal(0, StunTestClient.Code(await udp.RequestAsync(StunMethod.Binding)));
                byte[] answer = await udp.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
                Assert.Equal(StunErrorCodes.InsufficientCapacity, StunTestClient.Code(answer));
            }

            // The shortage is logged over once a tenth of the budget is back, so that churn at the edge is quiet.
            int given = capacity / 10;
            held.Take(given).ToList().ForEach(client => client.Dispose());
            await freed();

            // Full again but for one: the allocation takes that one, and the last connection needs it back.
            for (int i = 0; i < given - 1; i++)
            {
                held.Add(await StunStreamClient.ConnectAsync(server, localAddress: IPAddress.Parse("127.0.0." + (2 + (i % 5)).ToString(CultureInfo.InvariantCulture))));
                Assert.Equal(0, StunTestClient.Code(await held[^1].RequestAsync(StunMethod.Binding)));
            }

            using (var udp = new StunUdpClient(server))
            {
                await udp.AllocateAsync();
                Assert.Equal(0, StunTestClient.Code(await udp.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));
            }

            using StunStreamClient later = await StunStreamClient.ConnectAsync(server); // the descriptor the allocation gave back
            Assert.Equal(0, StunTestClient.Code(await later.RequestAsync(StunMethod.Binding)));
        }
        finally
        {
            held.ForEach(client => client.Dispose());
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("Out of memory", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Ends the server a <c>-o</c> start left running, found by its pidfile: SIGTERM, as an init script sends, and
    /// SIGKILL if it has not exited within 15 s (the test then fails: a daemon should stop on SIGTERM).
    /// </summary>
    private static async Task TerminateBackgroundServerAsync(string pidFile)
    {
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
        {
            return; // it never got as far as writing its pidfile, or has removed it on exiting
        }

        System.Diagnostics.Process background;
        try
        {
            background = System.Diagnostics.Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return; // exited without removing its pidfile: nothing left to end
        }

        using (background)
        {
            DaemonProcess.SendSignal(pid, 15);
            try
            {
                await background.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
            catch (TimeoutException)
            {
                background.Kill(entireProcessTree: true);
                throw;
            }
        }
    }
}
