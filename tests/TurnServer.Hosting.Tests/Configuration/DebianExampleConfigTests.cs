using System.Net;
using System.Text.RegularExpressions;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>
/// The example turnserver.conf that Debian's coturn package installs (CI installs the package too), loaded as it
/// ships and with every example option line uncommented.
/// </summary>
public partial class DebianExampleConfigTests
{
    private const string ExamplePath = "/usr/share/doc/coturn/examples/etc/turnserver.conf";

    // Options that cannot be used together (see ValidationTests): of each group, only the first one the file
    // lists is uncommented, the others stay commented. lt-cred-mech and no-auth is an error in coTURN as well.
    private static readonly string[][] ExclusiveGroups =
    [
        ["lt-cred-mech", "no-auth"],
        ["no-udp-relay", "no-tcp-relay"],
        ["stun-only", "no-stun"],
        ["no-udp", "no-tcp", "no-tls", "no-dtls"],
    ];

    [Fact]
    public void The_example_as_shipped_loads_without_errors()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", ExamplePath]);

        Assert.Empty(result.Errors);
        TurnServerSettings s = result.Settings!;
        Assert.Equal(ExamplePath, s.ConfigFilePath);
        Assert.Equal(3478, s.ListeningPort);
        Assert.True(s.NoAuth);

        // Debian's copy leaves four options uncommented: syslog, no-rfc5780, and two that describe this server's
        // behaviour anyway (no RFC 3489 Binding, RESPONSE-ORIGIN only with RFC 5780).
        Assert.True(s.Syslog);
        Assert.False(s.Rfc5780);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("not yet implemented", StringComparison.Ordinal));
    }

    [Fact]
    public void The_example_with_every_option_uncommented_loads_without_errors()
    {
        string[] lines = File.ReadAllLines(ExamplePath);
        var uncommented = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            Match example = ExampleLine().Match(lines[i]);
            if (!example.Success)
            {
                continue;
            }

            string name = example.Groups[1].Value;
            string[]? group = ExclusiveGroups.FirstOrDefault(g => g.Contains(name));
            if (group is not null && group.Any(other => other != name && uncommented.Contains(other)))
            {
                continue;
            }

            uncommented.Add(name);
            lines[i] = lines[i][1..];
        }

        // Users, groups and network devices must exist to be accepted; the example's become ones every Debian system has.
        // The Redis examples' ports and database numbers are placeholders, which are not numbers (coTURN's atoi reads 0).
        lines =
        [
            .. lines.Select(l => l
                .Replace("proc-user=<user-name>", "proc-user=nobody", StringComparison.Ordinal)
                .Replace("proc-group=<group-name>", "proc-group=nogroup", StringComparison.Ordinal)
                .Replace("listening-device=eth0", "listening-device=lo", StringComparison.Ordinal)
                .Replace("relay-device=eth1", "relay-device=lo", StringComparison.Ordinal)
                .Replace("redis-userdb=\"ip=<ip-address> dbname=<database-number>", "redis-userdb=\"ip=<ip-address> dbname=0", StringComparison.Ordinal)
                .Replace("redis-statsdb=\"ip=<ip-address> dbname=<database-number>", "redis-statsdb=\"ip=<ip-address> dbname=1", StringComparison.Ordinal)
                .Replace("password=<database-user-password> port=<port> connect_timeout=<seconds>\"", "password=<database-user-password> port=6379 connect_timeout=30\"", StringComparison.Ordinal)),
        ];

        using var file = new TempConfFile(string.Join('\n', lines));
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Equal([], result.Errors);
        TurnServerSettings s = result.Settings!;
        Assert.Equal((3478, 5349, 0, 0), (s.ListeningPort, s.TlsListeningPort, s.AltListeningPort, s.AltTlsListeningPort));
        Assert.Equal(["172.17.19.101", "10.207.21.238", "2607:f0d0:1002:51::4"], s.ListeningIps.Select(a => a.ToString()));
        Assert.Equal(["172.17.19.105", "2607:f0d0:1002:51::5"], s.RelayIps.Select(a => a.ToString()));
        Assert.Equal(["60.70.80.91", "60.70.80.91/172.17.19.101", "60.70.80.92/172.17.19.102"], s.ExternalIps.Select(m => m.ToString()));
        Assert.Equal(0, s.RelayThreads);
        Assert.Equal(("lo", "lo"), (s.ListeningDevice, s.RelayDevice));
        Assert.Equal((49152, 65535), (s.MinPort, s.MaxPort));
        Assert.True(s.Verbose && s.ExtraVerbose && s.Fingerprint);
        Assert.True(s.LtCredMech && s.UseAuthSecret);
        Assert.False(s.NoAuth);
        Assert.Equal(["north"], s.StaticAuthSecrets);
        Assert.Empty(s.Users);
        Assert.Equal(("mycompany.org", "blackdow.carleon.gov"), (s.Realm, s.ServerName));
        Assert.Equal((0, 0), (s.UserQuota, s.TotalQuota));
        Assert.True(s.NoUdp && !s.NoTcp && !s.NoTls && !s.NoDtls);
        Assert.True(s.NoUdpRelay && !s.NoTcpRelay);
        Assert.True(s.StunOnly && !s.NoStun);
        Assert.Equal((600, 3600, 600, 300), (s.StaleNonce, s.MaxAllocateLifetime, s.ChannelLifetime, s.PermissionLifetime));
        Assert.Equal(("/usr/local/etc/turn_server_cert.pem", "/usr/local/etc/turn_server_pkey.pem", "..."), (s.Cert, s.PKey, s.PKeyPassword));
        Assert.Equal("DEFAULT", s.CipherList);
        Assert.Equal(("/var/tmp/turn.log", "/var/run/turnserver.pid"), (s.LogFile, s.PidFile));
        Assert.Equal((65534u, 65534u), (s.ProcUserId, s.ProcGroupId));
        Assert.True(s.NoStdoutLog && s.SimpleLog && s.LogBinding && s.NoSoftwareAttribute && s.SecureStun);
        Assert.True(s.AllowLoopbackPeers && s.NoMulticastPeers);
        Assert.True(s.NoTlsV1 && s.NoTlsV1_1 && s.NoTlsV1_2);
        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("1.2.3.4"), 5678), new IPEndPoint(IPAddress.Parse("11.22.33.44"), 56789), new IPEndPoint(IPAddress.Parse("5.6.7.8"), 3478), new IPEndPoint(IPAddress.Parse("2001:db8:85a3:8d3:1319:8a2e:370:7348"), 3478)],
            s.AlternateServers);
        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("1.2.3.4"), 5678), new IPEndPoint(IPAddress.Parse("11.22.33.44"), 56789), new IPEndPoint(IPAddress.Parse("2001:db8:85a3:8d3:1319:8a2e:370:7348"), 3478)],
            s.TlsAlternateServers);
        Assert.True(s.Prometheus);
        // userdb, psql-userdb and redis-userdb write one setting in coTURN: redis-userdb, the last, wins.
        Assert.Equal((null, null), (s.UserDb, s.PsqlUserDb));
        Assert.Equal("ip=<ip-address> dbname=0 password=<database-user-password> port=6379 connect_timeout=30", s.RedisUserDb);
        Assert.Equal("ip=<ip-address> dbname=1 password=<database-user-password> port=6379 connect_timeout=30", s.RedisStatsDb);

        // Two uncommented comment lines are not options: warnings with their line numbers, as coTURN reports them.
        Assert.Contains($"{file.Path}:130: unknown option 'OR:' ignored", result.Warnings);
        Assert.Contains($"{file.Path}:701: unknown option 'Local' ignored", result.Warnings);
        Assert.Contains(result.Warnings, w => w.EndsWith(": option 'user' is ignored with 'use-auth-secret', as in coTURN", StringComparison.Ordinal));
        Assert.Equal((true, "127.0.0.1", 8080), (s.WebAdmin, s.WebAdminIp.ToString(), s.WebAdminPort));
        Assert.Contains(result.Warnings, w => w.Contains("option 'web-admin-listen-on-workers' is not yet implemented", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Warnings, w => w.Contains("option 'web-admin' ", StringComparison.Ordinal));

        // The CLI lines: the last cli-password wins (the example shows the turnadmin -P form, then a plain one).
        Assert.Equal((true, "127.0.0.1", 5766, "qwerty", 256), (s.NoCli, s.CliIp.ToString(), s.CliPort, s.CliPassword, s.CliMaxOutputSessions));
    }

    [Fact]
    public void The_example_user_lines_bind_passwords_and_keys()
    {
        string users = string.Join('\n', File.ReadAllLines(ExamplePath).Where(l => l.StartsWith("#user=", StringComparison.Ordinal)).Select(l => l[1..]));
        TurnServerSettings s = TestLoader.Settings("lt-cred-mech\nrealm=north.gov\n" + users);

        Assert.Equal(
            [("username1", "password1"), ("username2", "password2"), ("ninefingers", "youhavetoberealistic")],
            s.Users.Select(u => (u.Name, u.Password)));
    }

    // A commented example option: '#' directly followed by a name (prose comments have "# " after the hash).
    [GeneratedRegex(@"^#([A-Za-z][A-Za-z0-9_-]*)")]
    private static partial Regex ExampleLine();
}
