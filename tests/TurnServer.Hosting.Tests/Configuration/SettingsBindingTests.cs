using System.Net;
using System.Security.Cryptography;
using System.Text;
using TurnServer.Core;
using TurnServer.Core.Peers;
using TurnServer.Hosting.Configuration;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Configuration;

public class SettingsBindingTests
{
    [Fact]
    public void Defaults_are_coturns()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n"]);
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Null(s.ConfigFilePath);
        Assert.Equal((3478, 5349, 0, 0), (s.ListeningPort, s.TlsListeningPort, s.AltListeningPort, s.AltTlsListeningPort));
        Assert.Equal((49152, 65535), (s.MinPort, s.MaxPort));
        Assert.Empty(s.ListeningIps);
        Assert.Empty(s.RelayIps);
        Assert.Empty(s.ExternalIps);
        Assert.Equal("", s.Realm);
        Assert.Null(s.ServerName);
        Assert.Equal(':', s.RestApiSeparator);
        Assert.Equal((600, 3600, 600, 300), (s.StaleNonce, s.MaxAllocateLifetime, s.ChannelLifetime, s.PermissionLifetime));
        Assert.Equal((0, 0), (s.UserQuota, s.TotalQuota));
        Assert.Null(s.RelayThreads);
        Assert.Equal(9641, s.PrometheusPort);
        Assert.False(s.Prometheus);
        Assert.Null(s.LogFile);
        Assert.Null(s.Cert);
        Assert.Null(s.PidFile);
        Assert.False(s.Fingerprint || s.NoUdp || s.NoTcp || s.NoTls || s.NoDtls || s.StunOnly || s.NoStun || s.Verbose || s.ExtraVerbose);

        // coTURN 4.7's defaults: no SOFTWARE attribute, no RFC 5780.
        Assert.True(s.NoSoftwareAttribute);
        Assert.False(s.Rfc5780);
    }

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "--software-attribute" }, true)]
    [InlineData(new[] { "--software-attribute", "--no-software-attribute" }, false)]
    public void Software_is_sent_only_when_asked_for(string[] args, bool sent)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", .. args]);

        Assert.Empty(result.Errors);
        Assert.Equal(sent, TurnOptionsFactory.CreateOptions(result.Settings!).Software is not null);
    }

    /// <summary>coTURN turns these flags on whatever their value; here the value counts, and a false one is pointed out.</summary>
    [Theory]
    [InlineData("use-auth-secret")]
    [InlineData("prometheus")]
    [InlineData("no-dynamic-ip-list")]
    [InlineData("no-rfc5780")]
    public void A_flag_whose_value_coturn_ignores_is_honoured_with_a_warning_when_false(string flag)
    {
        TurnServerConfigLoadResult off = TestLoader.Load(["-n", "-z", $"--{flag}=0"]);
        TurnServerConfigLoadResult on = TestLoader.Load(["-n", "-z", $"--{flag}=1"]);

        Assert.Contains($"command line (--{flag}): option '{flag}' is off, as its value says; coTURN would turn it on anyway, since it ignores this option's value", off.Warnings);
        Assert.DoesNotContain(on.Warnings, w => w.Contains("coTURN would turn it on", StringComparison.Ordinal));
        Assert.False(off.Settings!.UseAuthSecret || off.Settings.Prometheus || off.Settings.NoDynamicIpList);
    }

    [Fact]
    public void Devices_that_exist_are_taken()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", "-d", "lo", "--relay-device=lo"]);

        Assert.Empty(result.Errors);
        Assert.Equal(("lo", "lo"), (result.Settings!.ListeningDevice, result.Settings.RelayDevice));
    }

    [Theory]
    [InlineData("listening-device", "no-such-nic0", "no network interface of that name")]
    [InlineData("relay-device", "a-name-over-15-bytes", "an interface name has 1 to 15 bytes")]
    public void A_device_that_cannot_be_used_fails_start_up_naming_the_option(string option, string value, string reason)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", $"--{option}={value}"]);

        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, e => e.Contains($"invalid value '{value}' for option '{option}'", StringComparison.Ordinal) && e.Contains(reason, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "-r", "example.org" }, null)]
    [InlineData(new[] { "-r", "example.org", "--oauth" }, "example.org")]
    [InlineData(new[] { "-r", "example.org", "--oauth", "--server-name=turn.example.org" }, "turn.example.org")]
    public void Oauth_seals_tokens_for_the_server_name_or_else_the_realm(string[] args, string? serverName)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-a", "--user=alice:secret", "--userdb=/tmp/turndb", .. args]);

        Assert.Empty(result.Errors);
        Assert.Equal(serverName, TurnOptionsFactory.CreateOptions(result.Settings!).OAuthServerName);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("'oauth'", StringComparison.Ordinal));
    }

    [Fact]
    public void Oauth_without_a_user_database_warns_that_every_token_will_be_refused()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-a", "--user=alice:secret", "--oauth"]);

        Assert.Contains(result.Warnings, w => w.Contains("option 'oauth' takes its keys from the user database", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "--mobility" }, true)]
    public void Mobility_is_offered_only_when_asked_for(string[] args, bool offered)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", .. args]);

        Assert.Empty(result.Errors);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("mobility", StringComparison.Ordinal));
        Assert.Equal(offered, TurnOptionsFactory.CreateOptions(result.Settings!).Mobility);
    }

    [Fact]
    public void No_credential_mechanism_means_anonymous_access_with_a_warning_as_in_coturn()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n"]);

        Assert.True(result.Settings!.NoAuth);
        Assert.False(result.Settings.LtCredMech);
        Assert.Contains(
            "no credential mechanism configured (lt-cred-mech, use-auth-secret, user or no-auth): allowing anonymous access, as coTURN does; set 'no-auth' to say so, or configure credentials",
            result.Warnings);
    }

    [Fact]
    public void Every_supported_option_binds_from_turnserver_conf()
    {
        const string conf = """
            listening-port=3479
            tls-listening-port=5350
            alt-listening-port=3480
            alt-tls-listening-port=5351
            listening-ip=192.0.2.1
            listening-ip=2001:db8::1
            relay-ip=192.0.2.2
            external-ip=203.0.113.1/192.0.2.2
            min-port=50000
            max-port=50100
            realm=example.org
            server-name=turn.example.org
            lt-cred-mech
            rest-api-separator=-
            user=alice:wonderland
            fingerprint
            stale-nonce=120
            max-allocate-lifetime=1800
            channel-lifetime=700
            permission-lifetime=400
            user-quota=5
            total-quota=100
            max-bps=125000
            bps-capacity=10000000
            denied-peer-ip=10.0.0.0-10.255.255.255
            denied-peer-ip=fc00::/7
            allowed-peer-ip=10.1.2.3
            allow-loopback-peers
            no-multicast-peers
            no-udp
            no-tcp
            no-tls
            no-udp-relay
            no-software-attribute
            log-file=/var/log/turn.log
            no-stdout-log
            simple-log
            verbose
            Verbose
            pidfile=/run/turn.pid
            cert=/etc/ssl/turn.pem
            pkey=/etc/ssl/turn.key
            pkey-pwd=hunter2
            cipher-list=ECDHE-RSA-AES256-GCM-SHA384
            no-tlsv1
            no-tlsv1_1
            no-tlsv1_2
            secure-stun
            stun-only
            relay-threads=4
            log-binding
            alternate-server=198.51.100.1:3479
            alternate-server=[2001:db8::2]:3480
            tls-alternate-server=198.51.100.2
            prometheus
            prometheus-port=9100
            prometheus-address=127.0.0.1
            prometheus-username-labels
            userdb=/var/lib/turn/turndb
            psql-userdb=host=db dbname=coturn
            """;
        using var file = new TempConfFile(conf);
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);
        Assert.Empty(result.Errors);
        TurnServerSettings s = result.Settings!;

        Assert.Equal(file.Path, s.ConfigFilePath);
        Assert.Equal((3479, 5350, 3480, 5351), (s.ListeningPort, s.TlsListeningPort, s.AltListeningPort, s.AltTlsListeningPort));
        Assert.Equal([IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1")], s.ListeningIps);
        Assert.Equal([IPAddress.Parse("192.0.2.2")], s.RelayIps);
        Assert.Equal([new ExternalIpMapping(IPAddress.Parse("203.0.113.1"), IPAddress.Parse("192.0.2.2"))], s.ExternalIps);
        Assert.Equal((50000, 50100), (s.MinPort, s.MaxPort));
        Assert.Equal(("example.org", "turn.example.org"), (s.Realm, s.ServerName));
        Assert.True(s.LtCredMech);
        Assert.False(s.NoAuth);
        Assert.False(s.UseAuthSecret);
        Assert.Equal('-', s.RestApiSeparator);
        UserEntry alice = Assert.Single(s.Users);
        Assert.Equal(("alice", "wonderland", (byte[]?)null), (alice.Name, alice.Password, alice.Key));
        Assert.True(s.Fingerprint);
        Assert.Equal((120, 1800, 700, 400), (s.StaleNonce, s.MaxAllocateLifetime, s.ChannelLifetime, s.PermissionLifetime));
        Assert.Equal((5, 100), (s.UserQuota, s.TotalQuota));
        Assert.Equal((125_000, 10_000_000), (s.MaxBps, s.BpsCapacity));
        Assert.True(IPAddressRange.TryParse("10.0.0.0-10.255.255.255", out IPAddressRange tens));
        Assert.True(IPAddressRange.TryParse("fc00::/7", out IPAddressRange uniqueLocal));
        Assert.True(IPAddressRange.TryParse("10.1.2.3", out IPAddressRange single));
        Assert.Equal([tens, uniqueLocal], s.DeniedPeerIps);
        Assert.Equal([single], s.AllowedPeerIps);
        Assert.True(s.AllowLoopbackPeers && s.NoMulticastPeers);
        Assert.True(s.NoUdp && s.NoTcp && s.NoTls && !s.NoDtls);
        Assert.True(s.NoUdpRelay && !s.NoTcpRelay);
        Assert.True(s.NoSoftwareAttribute);
        Assert.Equal("/var/log/turn.log", s.LogFile);
        Assert.True(s.NoStdoutLog && s.SimpleLog && s.Verbose && s.ExtraVerbose);
        Assert.Equal("/run/turn.pid", s.PidFile);
        Assert.Equal(("/etc/ssl/turn.pem", "/etc/ssl/turn.key", "hunter2"), (s.Cert, s.PKey, s.PKeyPassword));
        Assert.Equal("ECDHE-RSA-AES256-GCM-SHA384", s.CipherList);
        Assert.True(s.NoTlsV1 && s.NoTlsV1_1 && s.NoTlsV1_2);
        Assert.True(s.SecureStun && s.StunOnly && !s.NoStun);
        Assert.Equal(4, s.RelayThreads);
        Assert.True(s.LogBinding);
        Assert.Equal([new IPEndPoint(IPAddress.Parse("198.51.100.1"), 3479), new IPEndPoint(IPAddress.Parse("2001:db8::2"), 3480)], s.AlternateServers);
        Assert.Equal([new IPEndPoint(IPAddress.Parse("198.51.100.2"), 5349)], s.TlsAlternateServers);
        Assert.True(s.Prometheus && s.PrometheusUsernameLabels);
        Assert.Equal((9100, System.Net.IPAddress.Loopback), (s.PrometheusPort, s.PrometheusAddress));
        Assert.Equal((null, "host=db dbname=coturn"), (s.UserDb, s.PsqlUserDb)); // the later database wins, as in coTURN
    }

    [Fact]
    public void Short_options_bind_like_their_long_forms()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(
            ["-n", "-p", "3490", "-L", "192.0.2.1", "-L", "192.0.2.9", "-E", "192.0.2.2", "-X", "203.0.113.5", "-r", "r.org", "-a", "-u", "bob:pw",
             "-f", "-q", "2", "-Q", "20", "-l", "stdout", "-v", "-V", "-S", "-m", "0", "-C", "#", "-b", "/db"]);
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Equal(3490, s.ListeningPort);
        Assert.Equal([IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.9")], s.ListeningIps);
        Assert.Equal([IPAddress.Parse("192.0.2.2")], s.RelayIps);
        Assert.Equal([new ExternalIpMapping(IPAddress.Parse("203.0.113.5"), null)], s.ExternalIps);
        Assert.Equal("r.org", s.Realm);
        Assert.True(s.LtCredMech);
        Assert.Equal("bob", Assert.Single(s.Users).Name);
        Assert.True(s.Fingerprint);
        Assert.Equal((2, 20), (s.UserQuota, s.TotalQuota));
        Assert.Equal("stdout", s.LogFile);
        Assert.True(s.Verbose && s.ExtraVerbose && s.StunOnly);
        Assert.Equal(0, s.RelayThreads);
        Assert.Equal('#', s.RestApiSeparator);
        Assert.Equal("/db", s.UserDb);
    }

    [Fact]
    public void No_auth_and_the_other_flags_bind_from_the_command_line()
    {
        TurnServerSettings s = TestLoader.Load(["-n", "-z", "--no-dtls", "--no-tcp-relay", "--no-stun", "--psql-userdb=host=x"]).Settings!;

        Assert.True(s.NoAuth);
        Assert.False(s.LtCredMech);
        Assert.True(s.NoDtls && s.NoTcpRelay && s.NoStun);
        Assert.Equal("host=x", s.PsqlUserDb);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("=1", true)]
    [InlineData("=yes", true)]
    [InlineData("=Y", true)]
    [InlineData("=true", true)]
    [InlineData("=T", true)]
    [InlineData("=ON", true)]
    [InlineData("=0", false)]
    [InlineData("=no", false)]
    [InlineData("=n", false)]
    [InlineData("=False", false)]
    [InlineData("=f", false)]
    [InlineData("=off", false)]
    public void Boolean_flags_take_coturns_literals(string suffix, bool expected)
    {
        Assert.Equal(expected, TestLoader.Load(["-n", "-z", "--fingerprint" + suffix]).Settings!.Fingerprint);
    }

    /// <summary>
    /// coTURN's get_bool_value reads only the first character (and whole on/off words), so <c>fingerprint=2</c> and
    /// <c>lt-cred-mech=yep</c> start coTURN; they stopped start-up here when only exact words were taken.
    /// </summary>
    [Theory]
    [InlineData("=2", true)]
    [InlineData("=9", true)]
    [InlineData("=yep", true)]
    [InlineData("=Tru", true)]
    [InlineData("=On", true)]
    [InlineData("=nope", false)]
    [InlineData("=NO", false)]
    [InlineData("=0x1", false)]
    [InlineData("=Fals", false)]
    [InlineData("=OFF", false)]
    [InlineData("=Off", false)]
    public void Boolean_flags_are_judged_by_their_first_character_as_in_coturn(string suffix, bool expected)
    {
        TurnServerConfigLoadResult fingerprint = TestLoader.Load(["-n", "-z", "--fingerprint" + suffix]);
        TurnServerConfigLoadResult ltCredMech = TestLoader.Load(["-n", "-u", "a:b", "-r", "r", "--lt-cred-mech" + suffix]);

        Assert.Empty(fingerprint.Errors);
        Assert.Equal(expected, fingerprint.Settings!.Fingerprint);
        Assert.Empty(ltCredMech.Errors);

        // Users turn a false lt-cred-mech back on, with a warning, as in coTURN.
        Assert.Equal(!expected, ltCredMech.Warnings.Any(w => w.Contains("turning 'lt-cred-mech' on", StringComparison.Ordinal)));
    }

    /// <summary>coTURN never reads these flags' values: a value it could not read as a boolean starts it with the flag on.</summary>
    [Theory]
    [InlineData("use-auth-secret")]
    [InlineData("prometheus")]
    [InlineData("no-dynamic-realms")]
    [InlineData("new-log-timestamp")]
    public void A_flag_whose_value_coturn_ignores_takes_any_value_and_is_on(string flag)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", $"--{flag}=maybe"]);

        Assert.Empty(result.Errors);
        Assert.Contains($"command line (--{flag}): option '{flag}' is on: its value 'maybe' is not a boolean, and coTURN turns this option on whatever its value", result.Warnings);
    }

    [Fact]
    public void Flags_whose_value_coturn_ignores_are_on_with_a_value_that_is_not_a_boolean()
    {
        TurnServerSettings s = TestLoader.Settings("use-auth-secret=whatever\nstatic-auth-secret=s\nprometheus=x\nno-dynamic-ip-list=x\nnew-log-timestamp=x\n");

        Assert.True(s.UseAuthSecret && s.Prometheus && s.NoDynamicIpList);
        Assert.NotNull(s.LogTimestampFormat);
    }

    [Theory]
    [InlineData("", 600)]
    [InlineData("stale-nonce\n", 600)]
    [InlineData("stale-nonce=0\n", 0)]
    [InlineData("stale-nonce=45\n", 45)]
    public void Stale_nonce_defaults_to_600_with_or_without_the_option(string line, int expected)
    {
        Assert.Equal(expected, TestLoader.Settings(line + "no-auth\n").StaleNonce);
    }

    [Fact]
    public void Lifetimes_given_bare_take_their_defaults()
    {
        TurnServerSettings s = TestLoader.Settings("no-auth\nmax-allocate-lifetime\nchannel-lifetime\npermission-lifetime\n");

        Assert.Equal((3600, 600, 300), (s.MaxAllocateLifetime, s.ChannelLifetime, s.PermissionLifetime));
    }

    [Fact]
    public void Users_take_a_password_or_the_turnadmin_key_and_a_later_entry_replaces_an_earlier_one()
    {
        // turnadmin -k -u ninefingers -r north.gov -p youhavetoberealistic prints this key (coTURN's example).
        TurnServerConfigLoadResult result = TestLoader.LoadConf(
            "lt-cred-mech\nrealm=north.gov\nuser=ninefingers:0xbc807ee29df3c9ffa736523fb2c4e8ee\nuser=gorst: with:colons\nuser=logen:old\nuser=logen:new\n");
        TurnServerSettings s = result.Settings!;

        Assert.Equal(["ninefingers", "gorst", "logen"], s.Users.Select(u => u.Name));
        Assert.Equal(MD5.HashData(Encoding.UTF8.GetBytes("ninefingers:north.gov:youhavetoberealistic")), s.Users[0].Key);
        Assert.Null(s.Users[0].Password);
        Assert.Equal("with:colons", s.Users[1].Password);
        Assert.Equal("new", s.Users[2].Password);
        Assert.Contains(result.Warnings, w => w.EndsWith(".conf:6: user 'logen' is defined again; this entry replaces the earlier one", StringComparison.Ordinal));
    }

    [Fact]
    public void Users_imply_lt_cred_mech_with_a_warning_as_in_coturn()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("realm=r\nuser=alice:pw\n");

        Assert.True(result.Settings!.LtCredMech);
        Assert.False(result.Settings.NoAuth);
        Assert.Contains(result.Warnings, w => w.EndsWith(".conf:2: user accounts given without 'lt-cred-mech'; turning 'lt-cred-mech' on, as coTURN does", StringComparison.Ordinal));
    }

    [Fact]
    public void Static_auth_secret_implies_use_auth_secret_and_long_term_credentials()
    {
        TurnServerSettings s = TestLoader.Settings("realm=r\nstatic-auth-secret=s1\nstatic-auth-secret=s2\n");

        Assert.True(s.UseAuthSecret && s.LtCredMech);
        Assert.False(s.NoAuth);
        Assert.Equal(["s1", "s2"], s.StaticAuthSecrets);
    }

    [Fact]
    public void Use_auth_secret_ignores_static_users_and_warns_with_lt_cred_mech_as_in_coturn()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("realm=r\nlt-cred-mech\nuse-auth-secret\nstatic-auth-secret=s\nuser=alice:pw\n");

        Assert.Empty(result.Settings!.Users);
        Assert.True(result.Settings.UseAuthSecret && result.Settings.LtCredMech);
        Assert.Contains(result.Warnings, w => w.EndsWith(".conf:5: option 'user' is ignored with 'use-auth-secret', as in coTURN", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.Contains("both 'lt-cred-mech' and 'use-auth-secret' are set; the shared secret takes over, as in coTURN", StringComparison.Ordinal));
    }

    [Fact]
    public void No_auth_ignores_static_users_as_in_coturn()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nuser=alice:pw\n");

        Assert.Empty(result.Settings!.Users);
        Assert.True(result.Settings.NoAuth);
        Assert.Contains(result.Warnings, w => w.EndsWith(".conf:2: option 'user' is ignored with 'no-auth', as in coTURN", StringComparison.Ordinal));
    }

    [Fact]
    public void Realm_defaults_to_the_domain_name_as_in_coturn()
    {
        Assert.Equal("corp.example", TestLoader.Load(["-n", "-z"], domainName: "corp.example").Settings!.Realm);
        Assert.Equal("", TestLoader.Load(["-n", "-z"], domainName: "(none)").Settings!.Realm);
        Assert.Equal("given.org", TestLoader.Load(["-n", "-z", "-r", "given.org"], domainName: "corp.example").Settings!.Realm);
    }

    [Fact]
    public void Alternate_servers_take_every_address_form_and_coturns_default_ports()
    {
        TurnServerSettings s = TestLoader.Settings(
            "no-auth\nalternate-server=192.0.2.1\nalternate-server=192.0.2.2:0\nalternate-server=2001:db8::1\nalternate-server=[2001:db8::2]\ntls-alternate-server=[2001:db8::3]:443\ntls-alternate-server=2001:db8::4\n");

        Assert.Equal(
            ["192.0.2.1:3478", "192.0.2.2:3478", "[2001:db8::1]:3478", "[2001:db8::2]:3478"],
            s.AlternateServers.Select(e => e.ToString()));
        Assert.Equal(["[2001:db8::3]:443", "[2001:db8::4]:5349"], s.TlsAlternateServers.Select(e => e.ToString()));
    }

    [Fact]
    public void Aux_servers_take_an_address_with_an_optional_port_and_reach_the_engine_options()
    {
        TurnServerSettings s = TestLoader.Settings("no-auth\naux-server=192.0.2.1:33478\naux-server=[2001:db8::1]:443\naux-server=192.0.2.2\nudp-self-balance\n");

        Assert.Equal(["192.0.2.1:33478", "[2001:db8::1]:443", "192.0.2.2:3478"], s.AuxServers.Select(e => e.ToString()));
        Assert.Equal(
            ["192.0.2.1:33478", "192.0.2.2:3478", "[2001:db8::1]:443"],
            TurnOptionsFactory.CreateOptions(s).AuxiliaryServers.Select(a => a.ToString()).Order(StringComparer.Ordinal));
        Assert.True(TurnOptionsFactory.CreateOptions(s).UdpSelfBalance);
    }

    [Fact]
    public void External_ip_takes_one_plain_address_and_any_number_of_mappings()
    {
        TurnServerSettings s = TestLoader.Settings("no-auth\nexternal-ip=203.0.113.1\nexternal-ip=203.0.113.2/10.0.0.2\nexternal-ip=2001:db8::9/fd00::9\n");

        Assert.Equal(["203.0.113.1", "203.0.113.2/10.0.0.2", "2001:db8::9/fd00::9"], s.ExternalIps.Select(m => m.ToString()));
    }

    /// <summary>coTURN's main() maps the single external-ip onto relay addresses other than 127.0.0.1 and ::1 only.</summary>
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1:50000")]
    [InlineData("::1", "[::1]:50000")]
    [InlineData("192.0.2.7", "203.0.113.1:50000")]
    [InlineData("2001:db8::7", "[2001:db8::1]:50000")]
    public void A_plain_external_ip_is_advertised_for_every_relay_but_a_loopback_one(string relay, string advertised)
    {
        TurnOptions options = TurnOptionsFactory.CreateOptions(TestLoader.Settings("no-auth\nexternal-ip=203.0.113.1\nexternal-ip=2001:db8::1\n"));

        Assert.Equal(advertised, options.Advertise(new TransportAddress(IPAddress.Parse(relay), 50000)).ToString());
    }

    /// <summary>coTURN whitelists the private part of external-ip=public/private ("Whitelisting external-ip private part").</summary>
    [Fact]
    public void The_private_part_of_an_external_ip_mapping_is_an_allowed_peer()
    {
        TurnServerSettings s = TestLoader.Settings("no-auth\ndenied-peer-ip=10.0.0.0-10.255.255.255\nexternal-ip=203.0.113.1/10.0.0.5\n");
        PeerAddressPolicy policy = TurnOptionsFactory.CreateOptions(s).PeerPolicy;

        Assert.True(policy.IsAllowed(new TransportAddress(IPAddress.Parse("10.0.0.5"), 3478)));
        Assert.False(policy.IsAllowed(new TransportAddress(IPAddress.Parse("10.0.0.6"), 3478)));
        Assert.True(TurnOptionsFactory.CreatePeerPolicy(s, [], []).IsAllowed(new TransportAddress(IPAddress.Parse("10.0.0.5"), 3478)));
    }

    [Fact]
    public void Duplicate_listening_addresses_are_dropped_with_a_warning()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nlistening-ip=192.0.2.1\nlistening-ip=192.0.2.1\n");

        Assert.Equal([IPAddress.Parse("192.0.2.1")], result.Settings!.ListeningIps);
        Assert.Contains(result.Warnings, w => w.EndsWith(".conf:3: address 192.0.2.1 is already given for option 'listening-ip'; ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void Relay_threads_above_128_are_limited_as_in_coturn()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", "-m", "500"]);

        Assert.Equal(128, result.Settings!.RelayThreads);
        Assert.Contains("command line (-m): option 'relay-threads' is limited to 128, as in coTURN", result.Warnings);
    }

    [Fact]
    public void Not_yet_implemented_options_are_accepted_with_a_warning_naming_them()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", "--no-cli", "--ne=2", "--dh-file=/etc/dh.pem", "--web-admin-listen-on-workers"]);

        Assert.Empty(result.Errors);
        Assert.NotNull(result.Settings);
        Assert.Equal(
            [
                "command line (--dh-file): option 'dh-file' is not yet implemented in TurnServer and has no effect",
                "command line (--web-admin-listen-on-workers): option 'web-admin-listen-on-workers' is not yet implemented in TurnServer and has no effect",
                "command line (--ne): option 'ne' is not yet implemented in TurnServer and has no effect",
            ],
            result.Warnings.Where(w => w.Contains("not yet implemented", StringComparison.Ordinal)));
    }

    /// <summary>
    /// Later coTURN releases ask for MAPPED-ADDRESS and RFC 3489 answers with these; they were unknown options here, so
    /// the warning did not say what the server will not do.
    /// </summary>
    [Fact]
    public void Stun_backward_and_rfc3489_compatibility_are_accepted_with_a_warning_saying_what_is_not_done()
    {
        TurnServerConfigLoadResult on = TestLoader.LoadConf("no-auth\nstun-backward-compatibility\nrfc3489-compatibility=1\n");
        TurnServerConfigLoadResult off = TestLoader.LoadConf("no-auth\nstun-backward-compatibility=false\nrfc3489-compatibility=0\n");

        Assert.Empty(on.Errors);
        Assert.Equal(
            [
                "option 'stun-backward-compatibility' is not yet implemented in TurnServer and has no effect: Binding responses carry XOR-MAPPED-ADDRESS only, never MAPPED-ADDRESS",
                "option 'rfc3489-compatibility' is not yet implemented in TurnServer and has no effect: RFC 3489 Binding requests (without the magic cookie) are never answered",
            ],
            on.Warnings.Where(w => w.Contains("compatibility", StringComparison.Ordinal)).Select(w => w[(w.IndexOf(": ", StringComparison.Ordinal) + 2)..]));
        Assert.Empty(off.Errors);
        Assert.DoesNotContain(off.Warnings, w => w.Contains("compatibility", StringComparison.Ordinal));
    }

    /// <summary>Deprecated coTURN options still found in old configurations load without a warning: 'prod' is 'no-software-attribute'.</summary>
    [Fact]
    public void Deprecated_coturn_options_load_quietly_and_prod_turns_software_off()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nsoftware-attribute\nprod\nno-sslv2\nno-sslv3\nsecret-ts-exp-time=3600\n");

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.True(result.Settings!.NoSoftwareAttribute);
        Assert.False(TestLoader.LoadConf("no-auth\nsoftware-attribute\n").Settings!.NoSoftwareAttribute);
    }

    [Fact]
    public void Values_of_unbound_not_yet_implemented_options_are_not_validated()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\ndh-file=\nne=[1|2|3]\n");

        Assert.Empty(result.Errors);
    }

    [Fact]
    public void Proc_user_takes_its_primary_group_unless_proc_group_names_one_and_ids_are_accepted()
    {
        Assert.Equal((65534u, 65534u), Ids(TestLoader.Load(["-n", "--proc-user=nobody"])));
        Assert.Equal((65534u, 0u), Ids(TestLoader.Load(["-n", "--proc-user=nobody", "--proc-group=root"])));
        Assert.Equal(((uint?)null, 65534u), Ids(TestLoader.Load(["-n", "--proc-group=65534"])));
        Assert.Equal(((uint?)null, (uint?)null), Ids(TestLoader.Load(["-n"])));

        static (uint? User, uint? Group) Ids(TurnServerConfigLoadResult result)
        {
            Assert.Empty(result.Errors);
            return (result.Settings!.ProcUserId, result.Settings.ProcGroupId);
        }
    }

    [Theory]
    [InlineData(new string[0], DefaultRelayFamily.IPv4)]
    [InlineData(new[] { "--allocation-default-address-family=ipv6" }, DefaultRelayFamily.IPv6)]
    [InlineData(new[] { "-A", "KEEP" }, DefaultRelayFamily.Keep)]
    [InlineData(new[] { "-K", "1" }, DefaultRelayFamily.Keep)]
    [InlineData(new[] { "--keep-address-family", "--allocation-default-address-family=ipv4" }, DefaultRelayFamily.IPv4)]
    public void Allocation_default_address_family_and_keep_address_family_bind(string[] args, DefaultRelayFamily expected)
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", .. args]);

        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.Settings!.DefaultRelayFamily);
        Assert.Equal(expected, TurnOptionsFactory.CreateOptions(result.Settings).DefaultRelayFamily);
    }

    [Fact]
    public void An_unknown_allocation_default_address_family_is_an_error_naming_its_line()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nallocation-default-address-family=ipv5\n");

        Assert.Contains(result.Errors, e => e.EndsWith(":2: invalid value 'ipv5' for option 'allocation-default-address-family': use ipv4, ipv6 or keep", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_proc_group_is_an_error_naming_its_line()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf("no-auth\nproc-group=no-such-group-here\n");

        Assert.Contains(result.Errors, e => e.EndsWith(":2: invalid value 'no-such-group-here' for option 'proc-group': no such group on this system", StringComparison.Ordinal));
    }

    [Fact]
    public void Daemon_mode_takes_coturns_default_pidfile_unless_one_is_given_or_emptied()
    {
        string expected = Environment.UserName == "root" ? "/var/run/turnserver.pid" : "/var/tmp/turnserver.pid";
        Assert.Equal(expected, TestLoader.Load(["-n", "-o"]).Settings!.PidFile);
        Assert.Equal("/tmp/x.pid", TestLoader.Load(["-n", "-o", "--pidfile=/tmp/x.pid"]).Settings!.PidFile);
        Assert.Null(TestLoader.Load(["-n", "-o", "--pidfile="]).Settings!.PidFile); // as Debian's coturn.service passes it
        Assert.Null(TestLoader.Load(["-n"]).Settings!.PidFile);
        Assert.True(TestLoader.Load(["-n", "--daemon"]).Settings!.Daemon);
    }
}
