using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>The daemon under signals, as an operator and systemd drive it: SIGHUP, SIGUSR1, SIGUSR2, NOTIFY_SOCKET.</summary>
public sealed class LifecycleTests : IDisposable
{
    private const int SigHup = 1;
    private const int SigUsr1 = 10;
    private const int SigUsr2 = 12;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-life-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Sighup_reloads_users_and_reopens_the_log_and_a_bad_config_keeps_the_running_one()
    {
        string log = Path.Combine(_directory, "turn.log");
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "user=alice:secret", "log-file=" + log, "simple-log")));
        using DaemonProcess _ = daemon;
        using (var bob = new StunUdpClient(DaemonProcess.Loopback(port), "bob", "builder"))
        {
            Assert.Equal(401, await AllocateCodeAsync(bob));
        }

        // logrotate moves the file away; SIGHUP must make the server write a new one under the configured name.
        File.Move(log, log + ".1");
        Config(port, "user=alice:secret", "user=bob:builder", "log-file=" + log, "simple-log");
        Func<Task<string>> reloaded = daemon.ExpectLine("configuration reloaded: 2 users");
        daemon.Signal(SigHup);
        await reloaded();

        using (var bob = new StunUdpClient(DaemonProcess.Loopback(port), "bob", "builder"))
        {
            Assert.Equal(0, await AllocateCodeAsync(bob));
        }

        File.AppendAllText(ConfigFile, "min-port=70000\n");
        Func<Task<string>> refused = daemon.ExpectLine("configuration reload refused");
        daemon.Signal(SigHup);
        Assert.Contains("min-port", await refused(), StringComparison.Ordinal);
        using (var bob = new StunUdpClient(DaemonProcess.Loopback(port), "bob", "builder"))
        {
            Assert.Equal(0, await AllocateCodeAsync(bob)); // the running configuration stayed
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("builder", daemon.Output, StringComparison.Ordinal);
        Assert.Contains("configuration reloaded", File.ReadAllText(log), StringComparison.Ordinal); // complete once the server has exited
    }

    /// <summary>
    /// The engine is built with or without authentication, and answers with the realm it started with: a reload that
    /// turns no-auth off or changes the realm is refused with its reason, and the server goes on as the log says it
    /// does (here: still open, then alice's key still the start realm's).
    /// </summary>
    [Fact]
    public async Task Sighup_refuses_to_switch_authentication_or_the_realm_and_says_a_restart_is_needed()
    {
        static string Open(int port) => "listening-ip=127.0.0.1\nlistening-port=" + DaemonProcess.PortText(port) + "\nrealm=example.org\nallow-loopback-peers\n";
        (DaemonProcess first, int port) = await DaemonProcess.StartOnFreePortAsync(p =>
        {
            File.WriteAllText(ConfigFile, Open(p) + "no-auth\n");
            return DaemonProcess.Start("-c", ConfigFile);
        });
        using (DaemonProcess daemon = first)
        {
            File.WriteAllText(ConfigFile, Open(port) + "lt-cred-mech\nuser=alice:secret\n");
            Func<Task<string>> refused = daemon.ExpectLine("configuration reload refused");
            daemon.Signal(SigHup);
            Assert.Contains("turning it on needs a restart", await refused(), StringComparison.Ordinal);
            using (var anyone = new StunUdpClient(DaemonProcess.Loopback(port), "nobody", "nothing"))
            {
                Assert.Equal(0, await AllocateCodeAsync(anyone)); // still open, as the log said
            }

            Assert.Equal(0, await daemon.TerminateAsync());
        }

        (DaemonProcess second, port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "user=alice:secret")));
        using (DaemonProcess daemon = second)
        {
            File.WriteAllText(ConfigFile, File.ReadAllText(ConfigFile).Replace("realm=example.org", "realm=other.example", StringComparison.Ordinal) + "user=bob:builder\n");
            Func<Task<string>> refused = daemon.ExpectLine("configuration reload refused");
            daemon.Signal(SigHup);
            Assert.Contains("realm changes from 'example.org' to 'other.example', which needs a restart", await refused(), StringComparison.Ordinal);
            using (var alice = new StunUdpClient(DaemonProcess.Loopback(port), "alice", "secret"))
            {
                Assert.Equal(0, await AllocateCodeAsync(alice));
            }

            using (var bob = new StunUdpClient(DaemonProcess.Loopback(port), "bob", "builder"))
            {
                Assert.Equal(401, await AllocateCodeAsync(bob)); // nothing of the refused file applied
            }

            Assert.Equal(0, await daemon.TerminateAsync());
        }
    }

    /// <summary>
    /// The log file is written by a thread of its own: a log that cannot be written (here a FIFO nobody has opened,
    /// which blocks its writer in open(2) as a stalled disk would) delays neither start-up nor requests. Once the FIFO
    /// is opened the writer is released, and the server exits cleanly.
    /// </summary>
    [Fact]
    public async Task A_log_file_that_blocks_does_not_stall_the_server()
    {
        string fifo = Path.Combine(_directory, "turn.log");
        Assert.Equal(0, (await ExternalProcess.RunAsync("mkfifo", [fifo], TimeSpan.FromSeconds(10))).ExitCode);
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "user=alice:secret", "log-file=" + fifo, "simple-log")));
        using DaemonProcess _ = daemon;

        using (var alice = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            Assert.Equal(0, await AllocateCodeAsync(alice));
        }

        Task<string> released = Task.Run(() => File.ReadAllText(fifo));
        Assert.Equal(0, await daemon.TerminateAsync());
        await released.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGHUP also swaps TURN REST secrets and peer ranges: the old secret stops working, a newly denied peer gets 403.</summary>
    [Fact]
    public async Task Sighup_swaps_rest_secrets_and_peer_ranges_without_a_restart()
    {
        TransportAddress denied = TransportAddress.FromEndPoint(IPEndPoint.Parse("127.0.0.5:4000"));
        TransportAddress allowed = TransportAddress.FromEndPoint(IPEndPoint.Parse("127.0.0.6:4000"));
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "use-auth-secret", "static-auth-secret=first-secret")));
        using DaemonProcess _ = daemon;
        using (StunUdpClient before = RestClient(port, "first-secret"))
        {
            await before.AllocateAsync();
            Assert.Equal(0, await PermissionCodeAsync(before, denied));
        }

        Config(port, "use-auth-secret", "static-auth-secret=second-secret", "denied-peer-ip=127.0.0.5");
        Func<Task<string>> reloaded = daemon.ExpectLine("configuration reloaded");
        daemon.Signal(SigHup);
        await reloaded();

        using (StunUdpClient stale = RestClient(port, "first-secret"))
        {
            Assert.Equal(401, await AllocateCodeAsync(stale));
        }

        using (StunUdpClient fresh = RestClient(port, "second-secret"))
        {
            await fresh.AllocateAsync();
            Assert.Equal(403, await PermissionCodeAsync(fresh, denied));
            Assert.Equal(0, await PermissionCodeAsync(fresh, allowed));
        }

        Assert.Equal(0, await daemon.TerminateAsync());
        Assert.DoesNotContain("second-secret", daemon.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigusr1_drains_allocate_gets_508_the_live_allocation_runs_on_and_the_process_exits_0_when_it_ends()
    {
        string notify = Path.Combine(_directory, "notify.sock");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(notify));
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p =>
            DaemonProcess.Start(new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify }, "-c", Config(p, "user=alice:secret")));
        using DaemonProcess _ = daemon;
        Assert.Contains("READY=1", await ReceiveAsync(systemd), StringComparison.Ordinal);

        using var alice = new StunUdpClient(DaemonProcess.Loopback(port));
        await alice.AllocateAsync();
        Func<Task<string>> draining = daemon.ExpectLine("drain started");
        daemon.Signal(SigUsr1);
        await draining();

        using (var late = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            Assert.Equal(508, await AllocateCodeAsync(late));
        }

        Assert.Equal(0, StunUdpClient.Code(await alice.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 600))));
        Assert.Equal(0, StunUdpClient.Code(await alice.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));

        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("drain complete", daemon.Output, StringComparison.Ordinal);
        Assert.Contains("STOPPING=1", await ReceiveAsync(systemd), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_drain_with_a_timeout_ends_even_while_allocations_remain()
    {
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "user=alice:secret", "drain-timeout=1")));
        using DaemonProcess _ = daemon;
        using var alice = new StunUdpClient(DaemonProcess.Loopback(port));
        await alice.AllocateAsync();

        daemon.Signal(SigUsr1);

        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("drain timed out with 1 allocations left", daemon.Output, StringComparison.Ordinal);
        Assert.Contains("reason: server shutdown", daemon.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Regression: the handlers of SIGHUP, SIGUSR1 and SIGUSR2 were removed as the server began to stop, so one arriving
    /// during the seconds a stop may take (logrotate's SIGHUP, say) ended the process by the signal's default action
    /// (exit 129, 138, 140) instead of 0. The stop is held here by a Redis that is stopped (SIGSTOP): the writer of
    /// redis-statsdb waits for it to take the shutdown's deletions, logged just before; it goes on once each signal is
    /// logged as ignored (a debug line, hence verbose).
    /// </summary>
    [Fact]
    public async Task Signals_arriving_while_the_server_stops_are_ignored_and_it_exits_0()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        (DaemonProcess daemon, int port) = await DaemonProcess.StartOnFreePortAsync(p => DaemonProcess.Start("-c", Config(p, "user=alice:secret", "redis-statsdb=" + redis.ConnInfo, "verbose")));
        using DaemonProcess _ = daemon;
        using (var alice = new StunUdpClient(DaemonProcess.Loopback(port)))
        {
            await alice.AllocateAsync();
        }

        DaemonProcess.SendSignal(redis.ProcessId, SigStop);
        try
        {
            Func<Task<string>> stopping = daemon.ExpectLine("session 000000000000000001: closed");
            daemon.Signal(SigTerm);
            await stopping();
            // All three at once, then their lines: the stop lasts at most the host's 5 s shutdown timeout, and a
            // signal sent after it would meet the default action and fail the test for the wrong reason.
            (int Signal, string Name)[] signals = [(SigHup, "SIGHUP"), (SigUsr1, "SIGUSR1"), (SigUsr2, "SIGUSR2")];
            Func<Task<string>>[] ignored = [.. signals.Select(s => daemon.ExpectLine(s.Name + " received while stopping: ignored"))];
            foreach ((int Signal, string Name) sent in signals)
            {
                daemon.Signal(sent.Signal);
            }

            foreach (Func<Task<string>> line in ignored)
            {
                await line();
            }
        }
        finally
        {
            DaemonProcess.SendSignal(redis.ProcessId, SigCont);
        }

        Assert.Equal(0, await daemon.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task Sigusr2_puts_a_new_certificate_on_the_tls_listener_and_a_broken_one_keeps_the_old()
    {
        string cert = Path.Combine(_directory, "cert.pem");
        string key = Path.Combine(_directory, "key.pem");
        string first = WriteCertificate(cert, key, "CN=first.example");
        (DaemonProcess started, _, int tlsPort) = await DaemonProcess.StartOnFreePortsAsync((p, tls) =>
            DaemonProcess.Start("-c", Config(p, "user=alice:secret", "cert=" + cert, "pkey=" + key, "tls-listening-port=" + DaemonProcess.PortText(tls))));
        using DaemonProcess daemon = started;
        Assert.Equal(first, await PresentedThumbprintAsync(tlsPort));

        string second = WriteCertificate(cert, key, "CN=second.example");
        Func<Task<string>> loaded = daemon.ExpectLine(second);
        daemon.Signal(SigUsr2);
        Assert.Contains("CN=second.example", await loaded(), StringComparison.Ordinal);
        Assert.Equal(second, await PresentedThumbprintAsync(tlsPort));

        File.WriteAllText(key, "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n");
        Func<Task<string>> refused = daemon.ExpectLine("TLS certificate reload refused, keeping the one in force");
        daemon.Signal(SigUsr2);
        await refused();
        Assert.Equal(second, await PresentedThumbprintAsync(tlsPort));
        Assert.Equal(0, await daemon.TerminateAsync());
    }

    /// <summary>The thumbprint of the certificate the TLS listener presents to a new connection.</summary>
    private static async Task<string> PresentedThumbprintAsync(int port)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port, timeout.Token);
        using var tls = new System.Net.Security.SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token);
        return new X509Certificate2(tls.RemoteCertificate!).Thumbprint;
    }

    private static async Task<int> AllocateCodeAsync(StunUdpClient client) =>
        StunUdpClient.Code(await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)));

    private static async Task<int> PermissionCodeAsync(StunUdpClient client, TransportAddress peer) =>
        StunUdpClient.Code(await client.RequestAsync(StunMethod.CreatePermission, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, peer)));

    /// <summary>A TURN REST API client: a username valid for an hour and its password under <paramref name="secret"/>.</summary>
    private static StunUdpClient RestClient(int port, string secret)
    {
        string user = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) + ":frank";
        return new StunUdpClient(DaemonProcess.Loopback(port), user, TurnRestCredentials.ComputePassword(secret, user));
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        int received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }

    /// <summary>Writes a self-signed certificate and its key as PEM; returns the thumbprint.</summary>
    private static string WriteCertificate(string certPath, string keyPath, string subject)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, rsa.ExportPkcs8PrivateKeyPem());
        return certificate.Thumbprint;
    }

    private string ConfigFile => Path.Combine(_directory, "turnserver.conf");

    /// <summary>Writes the configuration file with these lines after the common ones; returns its path.</summary>
    private string Config(int port, params string[] lines)
    {
        File.WriteAllText(ConfigFile, string.Join('\n', [
            "listening-ip=127.0.0.1",
            "listening-port=" + DaemonProcess.PortText(port),
            "realm=example.org",
            "lt-cred-mech",
            "allow-loopback-peers",
            .. lines]) + "\n");
        return ConfigFile;
    }
}
