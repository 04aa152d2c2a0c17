using TurnServer.Core;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class LayeringTests
{
    [Fact]
    public void Command_line_overrides_environment_which_overrides_the_file()
    {
        var environment = new Dictionary<string, string?> { ["TURNSERVER_LISTENING_PORT"] = "3001", ["TURNSERVER_MIN_PORT"] = "50001" };
        TurnServerConfigLoadResult result = TestLoader.LoadConf("listening-port=3000\nmin-port=50000\nmax-port=60000\n", environment, "-p", "3002");

        Assert.Empty(result.Errors);
        Assert.Equal(3002, result.Settings!.ListeningPort);
        Assert.Equal(50001, result.Settings.MinPort);
        Assert.Equal(60000, result.Settings.MaxPort);
        Assert.Equal("3002", result.Configuration["listening-port"]);
        Assert.Equal("command line (-p)", result.ValueOrigins["listening-port"]);
        Assert.Equal("environment variable TURNSERVER_MIN_PORT", result.ValueOrigins["min-port"]);
        Assert.EndsWith(".conf:3", result.ValueOrigins["max-port"], StringComparison.Ordinal);
    }

    /// <summary>
    /// coTURN adds the command line's -L, -E, -u, static-auth-secret, peer ranges and servers to the file's; a later
    /// source replaced the earlier list here, so "-L" on the command line dropped the file's listening addresses.
    /// </summary>
    [Fact]
    public void Lists_collect_the_file_then_the_environment_then_the_command_line()
    {
        var environment = new Dictionary<string, string?>
        {
            ["TURNSERVER_RELAY_IP"] = "10.0.1.1",
            ["TURNSERVER_STATIC_AUTH_SECRET"] = "env-secret",
            ["TURNSERVER_DENIED_PEER_IP__0"] = "10.0.2.0-10.0.2.255",
            ["TURNSERVER_ALTERNATE_SERVER"] = "192.0.2.2",
        };
        TurnServerConfigLoadResult result = TestLoader.LoadConf(
            "listening-ip=10.0.0.1\nlistening-ip=10.0.0.2\nrelay-ip=10.0.0.4\nallowed-peer-ip=10.0.0.6\nstatic-auth-secret=file-secret\ndenied-peer-ip=10.0.3.0-10.0.3.255\nalternate-server=192.0.2.1\naux-server=127.0.0.1:4000\ntls-alternate-server=192.0.2.5\n",
            environment,
            "-L", "192.168.0.1", "-E", "10.0.1.2", "--static-auth-secret=cli-secret", "--allowed-peer-ip=10.0.0.7", "--denied-peer-ip=10.0.4.0-10.0.4.255",
            "--alternate-server=192.0.2.3", "--aux-server=127.0.0.1:4001", "--tls-alternate-server=192.0.2.6");
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Equal(["10.0.0.1", "10.0.0.2", "192.168.0.1"], s.ListeningIps.Select(a => a.ToString()));
        Assert.Equal(["10.0.0.4", "10.0.1.1", "10.0.1.2"], s.RelayIps.Select(a => a.ToString()));
        Assert.Equal(["file-secret", "env-secret", "cli-secret"], s.StaticAuthSecrets);
        Assert.Equal(["10.0.0.6", "10.0.0.7"], s.AllowedPeerIps.Select(a => a.ToString()));
        Assert.Equal(3, s.DeniedPeerIps.Count);
        Assert.Equal(["192.0.2.1:3478", "192.0.2.2:3478", "192.0.2.3:3478"], s.AlternateServers.Select(e => e.ToString()));
        Assert.Equal(["127.0.0.1:4000", "127.0.0.1:4001"], s.AuxServers.Select(e => e.ToString()));
        Assert.Equal(["192.0.2.5:5349", "192.0.2.6:5349"], s.TlsAlternateServers.Select(e => e.ToString()));
        Assert.EndsWith(".conf:1", result.ValueOrigins["listening-ip:0"], StringComparison.Ordinal);
        Assert.Equal("environment variable TURNSERVER_RELAY_IP", result.ValueOrigins["relay-ip:1"]);
        Assert.Equal("command line (-L)", result.ValueOrigins["listening-ip:2"]);
    }

    [Fact]
    public void Users_collect_across_sources_and_a_later_entry_for_the_same_name_replaces_the_earlier()
    {
        var environment = new Dictionary<string, string?> { ["TURNSERVER_USER"] = "bob:env" };
        TurnServerConfigLoadResult result = TestLoader.LoadConf("lt-cred-mech\nrealm=r\nuser=alice:file\nuser=bob:file\n", environment, "-u", "carol:cli");

        Assert.Empty(result.Errors);
        Assert.Equal([("alice", "file"), ("bob", "env"), ("carol", "cli")], result.Settings!.Users.Select(u => (u.Name, u.Password)));
        Assert.Contains("environment variable TURNSERVER_USER: user 'bob' is defined again; this entry replaces the earlier one", result.Warnings);
    }

    [Fact]
    public void A_pod_with_service_links_for_a_turnserver_cli_service_starts()
    {
        var environment = new Dictionary<string, string?>
        {
            ["TURNSERVER_CLI_PORT"] = "tcp://10.96.0.12:5766",
            ["TURNSERVER_CLI_SERVICE_HOST"] = "10.96.0.12",
            ["TURNSERVER_CLI_SERVICE_PORT"] = "5766",
        };
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z"], environment);

        Assert.Empty(result.Errors);
        Assert.Equal(5766, result.Settings!.CliPort);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("TURNSERVER_CLI", StringComparison.Ordinal));
    }

    [Fact]
    public void Repeated_options_become_indexed_configuration_children()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("lt-cred-mech\nuser=alice:a\nuser=bob:b\nrealm=r\n");

        Assert.Equal("alice:a", result.Configuration["user:0"]);
        Assert.Equal("bob:b", result.Configuration["user:1"]);
        Assert.Equal("", result.Configuration["lt-cred-mech"]);
        Assert.EndsWith(".conf:3", result.ValueOrigins["user:1"], StringComparison.Ordinal);
    }

    [Fact]
    public void Verbose_and_extra_verbose_are_distinct_configuration_keys()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-V", "--no-auth"]);

        Assert.Null(result.Configuration["verbose"]);
        Assert.Equal("", result.Configuration["extra-verbose"]);
        Assert.True(result.Settings!.ExtraVerbose);
        Assert.False(result.Settings.Verbose);
    }

    [Fact]
    public void A_single_valued_option_repeated_in_one_layer_keeps_the_last_value_with_a_warning()
    {
        using var file = new TempConfFile("realm=one\nrealm=two\nno-auth\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Equal("two", result.Settings!.Realm);
        Assert.Contains($"{file.Path}:2: option 'realm' is given more than once (also at {file.Path}:1); this value wins", result.Warnings);
    }

    [Fact]
    public void Flags_can_be_switched_off_by_a_later_layer()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("fingerprint\nno-auth\n", new Dictionary<string, string?> { ["TURNSERVER_FINGERPRINT"] = "off" });

        Assert.False(result.Settings!.Fingerprint);
    }

    /// <summary>
    /// coTURN's userdb (-b), psql-userdb (-e) and redis-userdb (-N) all write one setting, read from the file and then
    /// the command line, so the last given wins; a fixed order (PostgreSQL, Redis, SQLite) let the file's Redis beat
    /// an operator's -b.
    /// </summary>
    [Theory]
    [InlineData("redis-userdb=ip=127.0.0.1\n", new[] { "-b", "/tmp/t.db" }, "userdb")]
    [InlineData("psql-userdb=host=db\n", new[] { "-b", "/tmp/t.db" }, "userdb")]
    [InlineData("userdb=/tmp/t.db\n", new[] { "-N", "ip=127.0.0.1" }, "redis-userdb")]
    [InlineData("redis-userdb=ip=127.0.0.1\n", new[] { "--psql-userdb=host=db" }, "psql-userdb")]
    [InlineData("psql-userdb=host=db\nuserdb=/tmp/t.db\n", new string[0], "userdb")]
    public void Of_several_user_databases_the_last_given_wins_as_in_coturn(string conf, string[] args, string used)
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("lt-cred-mech\n" + conf, args);
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Equal(
            (used == "userdb", used == "psql-userdb", used == "redis-userdb"),
            (s.UserDb is not null, s.PsqlUserDb is not null, s.RedisUserDb is not null));
        Assert.Contains(result.Warnings, w => w.EndsWith($"the last one, '{used}', is used, as in coTURN", StringComparison.Ordinal));
    }

    [Fact]
    public void A_user_database_in_the_environment_beats_the_files_and_loses_to_the_command_lines()
    {
        var environment = new Dictionary<string, string?> { ["TURNSERVER_USERDB"] = "/tmp/env.db" };

        TurnServerSettings overFile = TestLoader.LoadConf("lt-cred-mech\nredis-userdb=ip=127.0.0.1\n", environment).Settings!;
        TurnServerSettings underCommandLine = TestLoader.LoadConf("lt-cred-mech\n", environment, "-N", "ip=10.0.0.1").Settings!;

        Assert.Equal(("/tmp/env.db", null), (overFile.UserDb, overFile.RedisUserDb));
        Assert.Equal((null, "ip=10.0.0.1"), (underCommandLine.UserDb, underCommandLine.RedisUserDb));
    }

    /// <summary>coTURN's software-attribute and no-software-attribute (prod) set one switch: the later one wins.</summary>
    [Theory]
    [InlineData("no-software-attribute\n", new[] { "--software-attribute" }, true)]
    [InlineData("prod\n", new[] { "--software-attribute=1" }, true)]
    [InlineData("software-attribute\n", new[] { "--no-software-attribute" }, false)]
    [InlineData("software-attribute\nno-software-attribute=0\n", new string[0], true)]
    [InlineData("no-software-attribute\nsoftware-attribute\n", new string[0], true)]
    public void Software_attribute_and_its_opposite_the_later_wins(string conf, string[] args, bool sent)
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\n" + conf, args);

        Assert.Empty(result.Errors);
        Assert.Equal(!sent, result.Settings!.NoSoftwareAttribute);
    }

    /// <summary>coTURN's -K and -A set one setting: the later wins (and -K with a false value changes nothing).</summary>
    [Theory]
    [InlineData("allocation-default-address-family=ipv6\n", new[] { "-K", "1" }, DefaultRelayFamily.Keep)]
    [InlineData("allocation-default-address-family=ipv6\n", new[] { "--keep-address-family" }, DefaultRelayFamily.Keep)]
    [InlineData("allocation-default-address-family=ipv6\n", new[] { "-K", "0" }, DefaultRelayFamily.IPv6)]
    [InlineData("keep-address-family\n", new[] { "-A", "ipv6" }, DefaultRelayFamily.IPv6)]
    [InlineData("keep-address-family\nallocation-default-address-family=ipv4\n", new string[0], DefaultRelayFamily.IPv4)]
    public void Keep_address_family_and_allocation_default_address_family_the_later_wins(string conf, string[] args, DefaultRelayFamily expected)
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\n" + conf, args);

        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.Settings!.DefaultRelayFamily);
    }

    [Fact]
    public void Minus_n_reads_no_file_even_when_one_would_be_found()
    {
        using var file = new TempConfFile("listening-port=4000\n");
        TurnServerConfigLoadResult result = TurnServerConfigLoader.Load(["-n", "-z"], new Dictionary<string, string?>(), () => [file.Path]);

        Assert.Empty(result.Errors);
        Assert.Null(result.Settings!.ConfigFilePath);
        Assert.Equal(3478, result.Settings.ListeningPort);
    }

    [Fact]
    public void Without_c_or_n_the_first_existing_search_path_is_read()
    {
        using var file = new TempConfFile("listening-port=4000\nno-auth\n");
        string missing = file.Path + ".missing";
        TurnServerConfigLoadResult result = TurnServerConfigLoader.Load([], new Dictionary<string, string?>(), () => [missing, file.Path]);

        Assert.Empty(result.Errors);
        Assert.Equal(file.Path, result.Settings!.ConfigFilePath);
        Assert.Equal(4000, result.Settings.ListeningPort);
    }

    [Fact]
    public void No_file_found_by_the_search_is_a_warning()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-z"]);

        Assert.Empty(result.Errors);
        Assert.Null(result.Settings!.ConfigFilePath);
        Assert.Contains("no turnserver.conf found; using defaults, the environment and the command line", result.Warnings);
    }

    [Fact]
    public void A_missing_file_named_with_c_is_an_error()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", "/nonexistent/turnserver.conf"]);

        Assert.Null(result.Settings);
        Assert.Equal(["command line (-c): configuration file '/nonexistent/turnserver.conf' not found"], result.Errors);
    }

    [Fact]
    public void The_default_search_follows_coturns_directory_order()
    {
        string[] paths = [.. TurnServerConfigLoader.DefaultConfigSearchPaths()];

        Assert.Equal(Path.GetFullPath("turnserver.conf"), paths[0]);
        Assert.Equal(Path.GetFullPath("etc/turnserver.conf"), paths[3]);
        Assert.Equal(
            ["/etc/turnserver.conf", "/etc/turnserver/turnserver.conf", "/etc/coturn/turnserver.conf", "/usr/local/etc/turnserver.conf", "/usr/local/etc/turnserver/turnserver.conf", "/usr/local/etc/coturn/turnserver.conf"],
            paths[^6..]);
    }

    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    public void Help_returns_at_once_without_reading_anything(string arg)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", "/nonexistent.conf", arg]);

        Assert.True(result.HelpRequested);
        Assert.False(result.VersionRequested);
        Assert.Null(result.Settings);
        Assert.Empty(result.Errors);
    }

    [Fact]
    public void Version_returns_at_once()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["--version"]);

        Assert.True(result.VersionRequested);
        Assert.Null(result.Settings);
    }

    [Fact]
    public void Unknown_options_everywhere_are_warnings_and_the_rest_still_loads()
    {
        var environment = new Dictionary<string, string?> { ["TURNSERVER_BOGUS"] = "1" };
        using var file = new TempConfFile("no-auth\nbogus-option=7\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path, "--bogus", "-p", "4000"], environment);

        Assert.Empty(result.Errors);
        Assert.Equal(4000, result.Settings!.ListeningPort);
        Assert.Contains($"{file.Path}:2: unknown option 'bogus-option' ignored", result.Warnings);
        Assert.Contains("environment variable TURNSERVER_BOGUS: unknown option ignored", result.Warnings);
        Assert.Contains("command line: unknown option '--bogus' ignored", result.Warnings);
    }

    [Fact]
    public void Sources_work_in_an_ordinary_configuration_builder()
    {
        using var file = new TempConfFile("listening-port=3000\nrealm=example.org\n");
        Microsoft.Extensions.Configuration.IConfigurationRoot root = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .Add(new TurnServerConfFileConfigurationSource(file.Path))
            .Add(new TurnServerEnvironmentConfigurationSource(new Dictionary<string, string?> { ["TURNSERVER_REALM"] = "env.org" }))
            .Add(new TurnServerCommandLineConfigurationSource(["--listening-port=3001", "--bogus"]))
            .Build();

        Assert.Equal("3001", root["listening-port"]);
        Assert.Equal("env.org", root["realm"]);
        var commandLine = (TurnServerConfigurationProvider)root.Providers.Last();
        Assert.Equal(["command line: unknown option '--bogus' ignored"], commandLine.Warnings);
        Assert.Equal("command line (--listening-port)", commandLine.Origins["listening-port"]);
    }
}
