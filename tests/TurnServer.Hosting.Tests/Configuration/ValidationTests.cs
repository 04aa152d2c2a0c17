using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class ValidationTests
{
    [Theory]
    [InlineData("listening-port=abc", "turnserver.conf:2: invalid value 'abc' for option 'listening-port': not a port number (0-65535)")]
    [InlineData("listening-port=70000", "turnserver.conf:2: invalid value '70000' for option 'listening-port': not a port number (0-65535)")]
    [InlineData("listening-port=-1", "turnserver.conf:2: invalid value '-1' for option 'listening-port': not a port number (0-65535)")]
    [InlineData("listening-port=3478abc", "turnserver.conf:2: invalid value '3478abc' for option 'listening-port': not a port number (0-65535)")]
    [InlineData("listening-port=3478 udp", "turnserver.conf:2: invalid value '3478 udp' for option 'listening-port': not a port number (0-65535)")]
    [InlineData("user-quota=5;x", "turnserver.conf:2: invalid value '5;x' for option 'user-quota': not an integer")]
    [InlineData("tls-listening-port=5349x", "turnserver.conf:2: invalid value '5349x' for option 'tls-listening-port': not a port number (0-65535)")]
    [InlineData("listening-ip=10.0.0", "turnserver.conf:2: invalid value '10.0.0' for option 'listening-ip': not an IP address or host name")]
    [InlineData("listening-ip=010.0.0.1", "turnserver.conf:2: invalid value '010.0.0.1' for option 'listening-ip': not an IP address or host name")]
    [InlineData("relay-ip=-turn.example.org", "turnserver.conf:2: invalid value '-turn.example.org' for option 'relay-ip': not an IP address or host name")]
    [InlineData("cli-ip=turn_1.example.org", "turnserver.conf:2: invalid value 'turn_1.example.org' for option 'cli-ip': not an IP address or host name")]
    [InlineData("external-ip=1.2.3.4/", "turnserver.conf:2: invalid value '1.2.3.4/' for option 'external-ip': not an external IP ('public-ip' or 'public-ip/private-ip')")]
    [InlineData("external-ip=203.0.113.1/fd00::1", "turnserver.conf:2: invalid value '203.0.113.1/fd00::1' for option 'external-ip': not an external IP ('public-ip' or 'public-ip/private-ip')")]
    [InlineData("denied-peer-ip=10.0.0.9-10.0.0.1", "turnserver.conf:2: invalid value '10.0.0.9-10.0.0.1' for option 'denied-peer-ip': not an IP address or range ('ip', 'ip-ip' or 'ip/prefix')")]
    [InlineData("allowed-peer-ip=10.0.0.0/33", "turnserver.conf:2: invalid value '10.0.0.0/33' for option 'allowed-peer-ip': not an IP address or range ('ip', 'ip-ip' or 'ip/prefix')")]
    [InlineData("user=alice", "turnserver.conf:2: invalid value 'alice' for option 'user': not a user entry ('name:password' or 'name:0x' followed by 32 hex digits)")]
    [InlineData("user=:pw", "turnserver.conf:2: invalid value ':***' for option 'user': not a user entry ('name:password' or 'name:0x' followed by 32 hex digits)")]
    [InlineData("user=alice:", "turnserver.conf:2: invalid value 'alice:***' for option 'user': not a user entry ('name:password' or 'name:0x' followed by 32 hex digits)")]
    [InlineData("user=alice:0xabc", "turnserver.conf:2: invalid value 'alice:***' for option 'user': bad hex key (expected 0x followed by 32 hex digits, the MD5 key turnadmin -k prints)")]
    [InlineData("user=alice:0xzz807ee29df3c9ffa736523fb2c4e8ee", "turnserver.conf:2: invalid value 'alice:***' for option 'user': bad hex key (expected 0x followed by 32 hex digits, the MD5 key turnadmin -k prints)")]
    [InlineData("max-allocate-lifetime=-5", "turnserver.conf:2: invalid value '-5' for option 'max-allocate-lifetime': must be at least 1")]
    [InlineData("channel-lifetime=0", "turnserver.conf:2: invalid value '0' for option 'channel-lifetime': must be at least 1")]
    [InlineData("stale-nonce=-1", "turnserver.conf:2: invalid value '-1' for option 'stale-nonce': must be at least 0")]
    [InlineData("stale-nonce=ten", "turnserver.conf:2: invalid value 'ten' for option 'stale-nonce': not an integer")]
    [InlineData("user-quota=-1", "turnserver.conf:2: invalid value '-1' for option 'user-quota': must be at least 0")]
    [InlineData("relay-threads=many", "turnserver.conf:2: invalid value 'many' for option 'relay-threads': not an integer")]
    [InlineData("fingerprint=maybe", "turnserver.conf:2: invalid value 'maybe' for option 'fingerprint': not a boolean (as in coTURN, the first letter decides: 0, n, f false; 1-9, y, t true; or on/off)")]
    [InlineData("lt-cred-mech=oN", "turnserver.conf:2: invalid value 'oN' for option 'lt-cred-mech': not a boolean (as in coTURN, the first letter decides: 0, n, f false; 1-9, y, t true; or on/off)")]
    [InlineData("no-tcp=-1", "turnserver.conf:2: invalid value '-1' for option 'no-tcp': not a boolean (as in coTURN, the first letter decides: 0, n, f false; 1-9, y, t true; or on/off)")]
    [InlineData("rest-api-separator=::", "turnserver.conf:2: invalid value '::' for option 'rest-api-separator': must be a single character")]
    [InlineData("alternate-server=1.2.3.4:99999", "turnserver.conf:2: invalid value '1.2.3.4:99999' for option 'alternate-server': not an address ('ip', 'ip:port' or '[ipv6]:port', or a host name for ip)")]
    [InlineData("tls-alternate-server=[2001:db8::1", "turnserver.conf:2: invalid value '[2001:db8::1' for option 'tls-alternate-server': not an address ('ip', 'ip:port' or '[ipv6]:port', or a host name for ip)")]
    [InlineData("static-auth-secret", "turnserver.conf:2: option 'static-auth-secret' requires a value")]
    [InlineData("static-auth-secret=", "turnserver.conf:2: option 'static-auth-secret' requires a value")]
    [InlineData("user=", "turnserver.conf:2: option 'user' requires a value")]
    [InlineData("listening-ip=", "turnserver.conf:2: option 'listening-ip' requires a value")]
    [InlineData("denied-peer-ip=", "turnserver.conf:2: option 'denied-peer-ip' requires a value")]
    [InlineData("cli-ip=", "turnserver.conf:2: option 'cli-ip' requires a value")]
    [InlineData("relay-device=", "turnserver.conf:2: option 'relay-device' requires a value")]
    [InlineData("proc-user=", "turnserver.conf:2: option 'proc-user' requires a value")]
    [InlineData("prometheus-port=http", "turnserver.conf:2: invalid value 'http' for option 'prometheus-port': not a port number (0-65535)")]
    public void A_bad_value_names_the_line_the_value_and_the_option(string line, string expected)
    {
        Assert.Equal(expected, TestLoader.SingleError("no-auth\n" + line + "\n"));
    }

    /// <summary>
    /// Templates write "realm=" for an unset variable. coTURN takes "" and ends with its default (the domain name as realm,
    /// no CLI without a password, 0 from strtoul for numbers), so such a configuration must load: the empty value counts
    /// as not given, with a warning naming the option and line. (It was an error, which stopped start-up.)
    /// </summary>
    [Theory]
    [InlineData("realm")]
    [InlineData("cli-password")]
    [InlineData("cipher-list")]
    [InlineData("acme-redirect")]
    [InlineData("max-bps")]
    [InlineData("listening-port")]
    [InlineData("rest-api-separator")]
    [InlineData("userdb")]
    public void An_empty_value_counts_as_not_given_with_a_warning_naming_the_option_and_line(string option)
    {
        using var file = new TempConfFile("no-auth\n" + option + "=\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Empty(result.Errors);
        Assert.Contains($"{file.Path}:2: option '{option}' has an empty value; ignored, as if not given", result.Warnings);
    }

    [Fact]
    public void Options_with_an_empty_value_take_their_defaults()
    {
        using var file = new TempConfFile("lt-cred-mech\nuser=a:b\nrealm=\ncli-password=\ncipher-list=\nacme-redirect=\nmax-bps=\nlistening-port=\nsyslog-facility=\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path], domainName: "example.org");
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Equal(("example.org", null, null, null), (s.Realm, s.CliPassword, s.CipherList, s.AcmeRedirect));
        Assert.Equal((0, 3478), (s.MaxBps, s.ListeningPort));
        Assert.Equal(TurnServer.Hosting.Logging.SyslogSink.DefaultFacility, s.SyslogFacility);
    }

    [Fact]
    public void An_empty_value_in_a_later_source_leaves_an_earlier_value_in_force()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nrealm=example.net\nmin-port=50000\n", new Dictionary<string, string?> { ["TURNSERVER_REALM"] = "" }, "--min-port=");

        Assert.Empty(result.Errors);
        Assert.Equal(("example.net", 50000), (result.Settings!.Realm, result.Settings.MinPort));
        Assert.Contains("environment variable TURNSERVER_REALM: option 'realm' has an empty value; ignored, as if not given", result.Warnings);
        Assert.Contains("command line (--min-port): option 'min-port' has an empty value; ignored, as if not given", result.Warnings);
    }

    /// <summary>
    /// coTURN's atoi reads "3478;" and "49152 # relays" as the number (a line ending in ';' draws only its "Check config!"
    /// warning), so those configurations must load: the number is taken, with a warning naming the option and line.
    /// </summary>
    [Theory]
    [InlineData("listening-port=3478;", "';'")]
    [InlineData("listening-port=3478 ;", "';'")]
    [InlineData("listening-port=3478 # udp and tcp", "'# udp and tcp'")]
    [InlineData("listening-port=3478\t#udp", "'#udp'")]
    public void A_number_followed_by_a_semicolon_or_a_comment_is_read_as_coturn_reads_it(string line, string note)
    {
        using var file = new TempConfFile("no-auth\n" + line + "\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Empty(result.Errors);
        Assert.Equal(3478, result.Settings!.ListeningPort);
        Assert.Equal(
            [$"{file.Path}:2: option 'listening-port' is read as 3478; the {note} after it is ignored, as coTURN ignores it"],
            result.Warnings.Where(w => w.StartsWith(file.Path + ":2:", StringComparison.Ordinal)));
    }

    [Fact]
    public void Integer_options_take_a_trailing_semicolon_or_comment_too()
    {
        TurnServerSettings s = TestLoader.Settings("no-auth\nmin-port=49152 # relays\nmax-bps=64000;\nrelay-threads=4 # cores\n");

        Assert.Equal((49152, 64000, 4), (s.MinPort, s.MaxBps, s.RelayThreads));
    }

    [Fact]
    public void Command_line_and_environment_errors_name_their_origin()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(
            ["-n", "-z", "-p", "x", "--min-port=y"],
            new Dictionary<string, string?> { ["TURNSERVER_MAX_PORT"] = "z" });

        Assert.Null(result.Settings);
        Assert.Equal(
            [
                "command line (--min-port): invalid value 'y' for option 'min-port': not a port number (0-65535)",
                "environment variable TURNSERVER_MAX_PORT: invalid value 'z' for option 'max-port': not a port number (0-65535)",
                "command line (-p): invalid value 'x' for option 'listening-port': not a port number (0-65535)",
            ],
            result.Errors);
    }

    [Fact]
    public void Every_error_is_collected_not_only_the_first()
    {
        using var file = new TempConfFile("no-auth\nlistening-port=a\nmin-port=b\nuser-quota=c\nlistening-ip=1.2.3\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Null(result.Settings);
        Assert.Equal(
            [
                $"{file.Path}:3: invalid value 'b' for option 'min-port': not a port number (0-65535)",
                $"{file.Path}:2: invalid value 'a' for option 'listening-port': not a port number (0-65535)",
                $"{file.Path}:5: invalid value '1.2.3' for option 'listening-ip': not an IP address or host name",
                $"{file.Path}:4: invalid value 'c' for option 'user-quota': not an integer",
            ],
            result.Errors);
    }

    /// <summary>coTURN exits when bps-capacity is set without max-bps; this was accepted here without a word.</summary>
    [Fact]
    public void Bps_capacity_without_max_bps_is_a_warning_naming_both()
    {
        using var file = new TempConfFile("no-auth\nbps-capacity=1000000\n");
        TurnServerConfigLoadResult without = TestLoader.Load(["-c", file.Path]);
        TurnServerConfigLoadResult with = TestLoader.Load(["-c", file.Path, "--max-bps=10000"]);

        Assert.Empty(without.Errors);
        Assert.Equal(1000000, without.Settings!.BpsCapacity);
        Assert.Contains($"{file.Path}:2: option 'bps-capacity' is set without 'max-bps', which coTURN refuses to start with; it applies only while a 'max-bps' does (the user database's realm option may give one), so allocations are not limited now", without.Warnings);
        Assert.Empty(with.Errors);
        Assert.DoesNotContain(with.Warnings, w => w.Contains("'bps-capacity'", StringComparison.Ordinal));
    }

    [Fact]
    public void Min_port_above_max_port_is_an_error()
    {
        Assert.Equal(
            "turnserver.conf:2, turnserver.conf:3: option 'min-port' (60000) is above 'max-port' (50000)",
            TestLoader.SingleError("no-auth\nmin-port=60000\nmax-port=50000\n"));
    }

    [Theory]
    [InlineData("lt-cred-mech", "turnserver.conf:1, turnserver.conf:2: option 'no-auth' cannot be used with 'lt-cred-mech'")]
    [InlineData("use-auth-secret", "turnserver.conf:1, turnserver.conf:2: option 'no-auth' cannot be used with 'use-auth-secret'")]
    [InlineData("static-auth-secret=s", "turnserver.conf:1, turnserver.conf:2: option 'no-auth' cannot be used with 'static-auth-secret'")]
    public void Long_term_credentials_and_no_auth_cannot_be_used_together_as_in_coturn(string line, string expected)
    {
        Assert.Equal(expected, TestLoader.SingleError("no-auth\n" + line + "\n"));
    }

    [Fact]
    public void Conflicts_across_layers_name_both_origins()
    {
        Assert.Equal(
            "command line (-z), turnserver.conf:1: option 'no-auth' cannot be used with 'lt-cred-mech'",
            TestLoader.SingleError("lt-cred-mech\n", "-z"));
    }

    [Fact]
    public void A_flag_switched_off_is_no_conflict()
    {
        Assert.Empty(TestLoader.LoadConf("no-auth\nlt-cred-mech=0\n").Errors);
    }

    [Theory]
    [InlineData("no-udp-relay\nno-tcp-relay", "turnserver.conf:2, turnserver.conf:3: options 'no-udp-relay' and 'no-tcp-relay' cannot be used together: no relay endpoint could be allocated")]
    [InlineData("stun-only\nno-stun", "turnserver.conf:2, turnserver.conf:3: options 'stun-only' and 'no-stun' cannot be used together: the server would answer nothing")]
    [InlineData("no-udp\nno-tcp\nno-tls\nno-dtls", "turnserver.conf:2, turnserver.conf:3, turnserver.conf:4, turnserver.conf:5: options 'no-udp', 'no-tcp', 'no-tls' and 'no-dtls' cannot all be used together: no client listener would be left")]
    [InlineData("external-ip=203.0.113.1\nexternal-ip=203.0.113.2", "turnserver.conf:2, turnserver.conf:3: option 'external-ip' may be given without a private address only once per address family; map several addresses as 'public-ip/private-ip'")]
    public void Options_that_leave_the_server_meaningless_are_errors(string lines, string expected)
    {
        Assert.Equal(expected, TestLoader.SingleError("no-auth\n" + lines + "\n"));
    }

    [Fact]
    public void One_plain_external_ip_per_family_is_allowed()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nexternal-ip=203.0.113.1\nexternal-ip=2001:db8::1\n");
        Assert.Empty(result.Errors);
        Assert.Equal(2, result.Settings!.ExternalIps.Count);
    }

    [Fact]
    public void Long_term_credentials_without_users_or_secrets_are_warned_about()
    {
        TurnServerConfigLoadResult lt = TestLoader.LoadConf("lt-cred-mech\n");
        TurnServerConfigLoadResult secret = TestLoader.LoadConf("use-auth-secret\nrealm=r\n");

        Assert.Empty(lt.Errors);
        Assert.Contains("long-term credentials are in use but no realm is set (option 'realm') and the system has no domain name", lt.Warnings);
        Assert.Contains("long-term credentials are in use but no 'user' or 'userdb' is configured; users are read from coTURN's default SQLite database if one exists (the first of /var/db/turndb, /usr/local/var/db/turndb, /var/lib/turn/turndb), as coTURN does", lt.Warnings);
        Assert.Contains("'use-auth-secret' is set but no 'static-auth-secret' or 'userdb'; secrets are read from coTURN's default SQLite database if one exists (the first of /var/db/turndb, /usr/local/var/db/turndb, /var/lib/turn/turndb), as coTURN does", secret.Warnings);
        Assert.True(lt.Settings!.WantsDefaultUserDb && secret.Settings!.WantsDefaultUserDb);
        Assert.False(TestLoader.LoadConf("lt-cred-mech\nuser=a:b\n").Settings!.WantsDefaultUserDb);
    }

    [Fact]
    public void A_psql_userdb_that_cannot_be_read_is_an_error_that_does_not_repeat_the_password()
    {
        string error = TestLoader.SingleError("lt-cred-mech\npsql-userdb=host=db password=hunter2 colour=blue\n");

        Assert.StartsWith("turnserver.conf:2: invalid value for option 'psql-userdb': 'colour' is not a connection parameter", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    /// <summary>Regression: these passed the configuration check and then crashed the server at start (exit 134).</summary>
    [Theory]
    [InlineData("psql-userdb=dbname=coturn port=99999999999 password=hunter2", "'port' must be a number from 1 to 65535")]
    [InlineData("psql-userdb=dbname=coturn connect_timeout=2000 password=hunter2", "'connect_timeout' must be a number from 0 to 1024")]
    [InlineData("psql-userdb=host=db:99999999999 password=hunter2", "Value was either too large or too small for an Int32.")]
    public void A_psql_userdb_with_settings_npgsql_refuses_is_an_error_naming_the_option_and_line(string line, string problem)
    {
        string error = TestLoader.SingleError("lt-cred-mech\n" + line + "\n");

        Assert.Equal("turnserver.conf:2: invalid value for option 'psql-userdb': " + problem, error);
    }

    [Fact]
    public void A_psql_userdb_without_a_host_is_accepted_as_libpq_accepts_it()
    {
        Assert.Equal("dbname=coturn user=turn", TestLoader.Settings("lt-cred-mech\npsql-userdb=\"dbname=coturn user=turn\"\n").PsqlUserDb);
    }

    [Fact]
    public void A_redis_userdb_coturn_would_refuse_is_an_error_that_does_not_repeat_the_password()
    {
        string error = TestLoader.SingleError("lt-cred-mech\nredis-userdb=ip=127.0.0.1 password=hunter2 sslmode=require\n");

        Assert.Equal("turnserver.conf:2: invalid value for option 'redis-userdb': unknown key 'sslmode' (expected ip, port, dbname, password, connect_timeout)", error);
        Assert.Contains("redis-userdb", TestLoader.SingleError("lt-cred-mech\nredis-userdb=ip=127.0.0.1 password=hunter 2\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_redis_statsdb_is_read_like_redis_userdb_and_a_bad_one_is_an_error_naming_it()
    {
        Assert.Equal("ip=10.0.0.5 port=6380 dbname=2", TestLoader.LoadConf("no-auth\nredis-statsdb=\"ip=10.0.0.5 port=6380 dbname=2\"\n").Settings!.RedisStatsDb);

        string error = TestLoader.SingleError("no-auth\nredis-statsdb=ip=127.0.0.1 port=none password=hunter2\n");

        Assert.Equal("turnserver.conf:2: invalid value for option 'redis-statsdb': 'port' must be a number from 1 to 65535", error);
    }

    [Fact]
    public void Two_user_databases_draw_a_warning_naming_the_one_used()
    {
        Assert.Contains(
            TestLoader.LoadConf("lt-cred-mech\nuserdb=/tmp/x\npsql-userdb=host=db\n").Warnings,
            w => w.EndsWith("'userdb', 'psql-userdb' are all given; the last one, 'psql-userdb', is used, as in coTURN", StringComparison.Ordinal));
        TurnServerConfigLoadResult result = TestLoader.LoadConf("lt-cred-mech\nuserdb=/tmp/x\nredis-userdb=ip=127.0.0.1 dbname=3\n");
        Assert.Contains(result.Warnings, w => w.EndsWith("'userdb', 'redis-userdb' are all given; the last one, 'redis-userdb', is used, as in coTURN", StringComparison.Ordinal));
        Assert.Equal("ip=127.0.0.1 dbname=3", result.Settings!.RedisUserDb);
        Assert.Equal(TurnServer.UserDb.UserDatabaseKind.Redis, TurnServer.Hosting.TurnServerHostFactory.OpenUserDatabase(result.Settings)!.Kind);
    }

    [Fact]
    public void Loopback_peers_draw_coturns_warning()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", "--allow-loopback-peers"]);

        Assert.Contains("command line (--allow-loopback-peers): option 'allow-loopback-peers' lets clients reach services on this host; do not use it in production", result.Warnings);
    }

    /// <summary>
    /// Usernames in metrics served on every address, as coTURN serves them without 'prometheus-address', can be read from
    /// any network that reaches the port.
    /// </summary>
    [Fact]
    public void Username_labels_on_every_address_draw_a_warning_and_on_a_chosen_address_none()
    {
        TurnServerConfigLoadResult everywhere = TestLoader.Load(["-n", "-z", "--prometheus", "--prometheus-username-labels"]);
        TurnServerConfigLoadResult chosen = TestLoader.Load(["-n", "-z", "--prometheus", "--prometheus-username-labels", "--prometheus-address=127.0.0.1"]);

        Assert.Contains(
            "command line (--prometheus-username-labels): option 'prometheus-username-labels' puts usernames in the metrics, served on every address (port 9641) as no 'prometheus-address' is given: anyone who reaches the port can read them; set 'prometheus-address' to an address only the scraper reaches",
            everywhere.Warnings);
        Assert.DoesNotContain(chosen.Warnings, w => w.Contains("prometheus-username-labels", StringComparison.Ordinal));
        foreach (string any in new[] { "0.0.0.0", "::" })
        {
            Assert.Contains(
                TestLoader.Load(["-n", "-z", "--prometheus", "--prometheus-username-labels", "--prometheus-address=" + any]).Warnings,
                w => w.Contains("served on every address (port 9641) as 'prometheus-address' is " + any + ":", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(new[] { "--web-admin", "--lt-cred-mech", "--user=a:b", "--cert=/c.pem", "--pkey=/k.pem" }, "option 'web-admin' needs administrators from the user database's admin_user table (turnadmin -A), and no 'userdb', 'psql-userdb' or 'redis-userdb' is in use: the web admin is not started")]
    [InlineData(new[] { "--web-admin", "--cert=/c.pem", "--pkey=/k.pem", "--userdb=/tmp/turndb", "--no-auth" }, "option 'web-admin' needs administrators")]
    [InlineData(new[] { "--web-admin", "--lt-cred-mech", "--userdb=/tmp/turndb" }, "option 'web-admin' is served over HTTPS only, and no 'cert' and 'pkey' are given: the web admin is not started")]
    public void A_web_admin_that_cannot_start_is_named_in_a_warning(string[] args, string warning)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "--realm=example.org", .. args]);
        Assert.NotNull(result.Settings);
        Assert.Contains(result.Warnings, w => w.StartsWith("command line (--web-admin): " + warning, StringComparison.Ordinal));
    }
}
