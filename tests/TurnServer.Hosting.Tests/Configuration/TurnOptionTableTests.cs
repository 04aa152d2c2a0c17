using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class TurnOptionTableTests
{
    // The names of coTURN's long_options[] table (src/apps/relay/mainrelay.c), aliases included.
    private static readonly string[] CoturnLongOptions =
    [
        "listening-device", "listening-port", "tls-listening-port", "alt-listening-port", "alt-tls-listening-port", "tcp-proxy-port",
        "listening-ip", "relay-device", "relay-ip", "external-ip", "relay-threads", "min-port", "max-port", "lt-cred-mech", "no-auth",
        "user", "userdb", "db", "psql-userdb", "sql-userdb", "mysql-userdb", "mongo-userdb", "redis-userdb", "redis-statsdb",
        "prometheus", "prometheus-port", "prometheus-address", "prometheus-username-labels", "use-auth-secret", "static-auth-secret",
        "no-auth-pings", "no-dynamic-ip-list", "no-dynamic-realms", "realm", "server-name", "oauth", "user-quota", "total-quota",
        "max-bps", "bps-capacity", "verbose", "Verbose", "daemon", "no-software-attribute", "software-attribute", "fingerprint",
        "check-origin-consistency", "no-udp", "no-tcp", "no-tls", "no-dtls", "no-udp-relay", "no-tcp-relay", "stale-nonce",
        "max-allocate-lifetime", "channel-lifetime", "permission-lifetime", "stun-only", "no-stun", "cert", "raw-public-keys", "pkey",
        "pkey-pwd", "log-file", "no-stdout-log", "syslog", "simple-log", "new-log-timestamp", "new-log-timestamp-format", "aux-server",
        "udp-self-balance", "alternate-server", "tls-alternate-server", "rest-api-separator", "max-allocate-timeout",
        "no-multicast-peers", "allow-loopback-peers", "allowed-peer-ip", "denied-peer-ip", "cipher-list", "pidfile", "secure-stun",
        "CA-file", "dh-file", "proc-user", "proc-group", "mobility", "no-cli", "cli-ip", "cli-port", "cli-password", "web-admin",
        "web-admin-ip", "web-admin-port", "web-admin-listen-on-workers", "server-relay", "cli-max-output-sessions", "ec-curve-name",
        "dh566", "dh1066", "ne", "prod", "no-sslv2", "no-sslv3", "secret-ts-exp-time", "no-tlsv1", "no-tlsv1_1", "no-tlsv1_2", "secret-key-file", "keep-address-family",
        "allocation-default-address-family", "acme-redirect", "log-binding", "no-rfc5780", "no-stun-backward-compatibility",
        "response-origin-only-with-rfc5780", "respond-http-unsupported", "version", "syslog-facility",
    ];

    // Options the table adds to coTURN 4.6's: later coTURN releases' (prometheus-path, drain-min-allocations, rfc5780,
    // stun-backward-compatibility, rfc3489-compatibility), and TurnServer's own (drain-timeout).
    private static readonly string[] AddedOptions = ["prometheus-path", "drain-min-allocations", "drain-timeout", "rfc5780", "stun-backward-compatibility", "rfc3489-compatibility"];

    // coTURN's getopt short-option string: a letter followed by ':' takes a value.
    private const string CoturnShortOptions = "c:d:p:L:E:X:i:m:l:r:u:b:B:e:M:J:N:O:q:Q:s:C:K:A:vVofhznaS";

    private static readonly string[] SupportedOptions =
    [
        "listening-port", "listening-ip", "relay-ip", "external-ip", "min-port", "max-port", "realm", "server-name", "lt-cred-mech",
        "use-auth-secret", "static-auth-secret", "rest-api-separator", "user", "no-auth", "fingerprint", "stale-nonce",
        "max-allocate-lifetime", "max-allocate-timeout", "channel-lifetime", "permission-lifetime", "user-quota", "total-quota", "denied-peer-ip",
        "allowed-peer-ip", "allow-loopback-peers", "no-multicast-peers", "no-udp", "no-tcp", "no-tls", "no-dtls", "no-udp-relay",
        "no-tcp-relay", "no-software-attribute", "log-file", "no-stdout-log", "simple-log", "verbose", "Verbose", "pidfile", "mobility", "no-cli", "cli-ip", "cli-port", "cli-password", "cli-max-output-sessions", "web-admin", "web-admin-ip", "web-admin-port", "no-auth-pings", "listening-device", "relay-device", "server-relay", "check-origin-consistency", "oauth",
        "proc-user", "proc-group", "daemon", "tls-listening-port", "alt-listening-port", "alt-tls-listening-port", "cert", "pkey", "pkey-pwd", "cipher-list", "no-tlsv1",
        "no-tlsv1_1", "no-tlsv1_2", "secure-stun", "stun-only", "no-stun", "relay-threads", "log-binding", "alternate-server",
        "tls-alternate-server", "prometheus", "prometheus-port", "prometheus-address", "prometheus-path", "prometheus-username-labels",
        "userdb", "psql-userdb", "redis-userdb", "redis-statsdb", "syslog", "syslog-facility", "new-log-timestamp", "new-log-timestamp-format",
        "drain-min-allocations", "drain-timeout", "no-rfc5780", "response-origin-only-with-rfc5780", "no-stun-backward-compatibility",
        "allocation-default-address-family", "keep-address-family", "aux-server",
        "rfc5780", "software-attribute", "tcp-proxy-port", "CA-file", "max-bps", "bps-capacity", "no-dynamic-ip-list", "no-dynamic-realms", "acme-redirect", "respond-http-unsupported",
        "udp-self-balance", "no-sslv2", "no-sslv3", "secret-ts-exp-time",
    ];

    [Fact]
    public void Every_coturn_long_option_is_in_the_table_under_its_own_name()
    {
        foreach (string name in CoturnLongOptions)
        {
            Assert.True(TurnOptionTable.TryFindByName(name, out TurnOption? option), name);
            Assert.True(option.Name == name || option.Aliases.Contains(name), name);
        }

        Assert.Equal(
            CoturnLongOptions.Append("help").Concat(AddedOptions).Order(StringComparer.Ordinal),
            TurnOptionTable.All.Where(o => o.Name is not null).SelectMany(o => o.Aliases.Prepend(o.Name!)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_coturn_short_option_is_in_the_table_and_takes_a_value_exactly_when_getopt_says()
    {
        for (int i = 0; i < CoturnShortOptions.Length; i++)
        {
            char letter = CoturnShortOptions[i];
            bool takesValue = i + 1 < CoturnShortOptions.Length && CoturnShortOptions[i + 1] == ':';
            Assert.True(TurnOptionTable.TryFindByShortName(letter, out TurnOption? option), letter.ToString());
            Assert.Equal(takesValue, option.ShortNameTakesValue);
            if (takesValue)
            {
                i++;
            }
        }

        Assert.Equal(CoturnShortOptions.Count(char.IsLetter), TurnOptionTable.All.Count(o => o.ShortName is not null));
    }

    [Fact]
    public void Aliases_and_short_forms_match_coturn()
    {
        Assert.True(TurnOptionTable.TryFindByName("db", out TurnOption? db));
        Assert.Equal(("userdb", 'b'), (db.Name, db.ShortName));
        Assert.True(TurnOptionTable.TryFindByName("sql-userdb", out TurnOption? sql));
        Assert.Equal(("psql-userdb", 'e'), (sql.Name, sql.ShortName));
        Assert.True(TurnOptionTable.TryFindByShortName('V', out TurnOption? extra));
        Assert.Equal(("Verbose", "extra-verbose"), (extra.Name, extra.ConfigurationKey));
    }

    [Fact]
    public void Exactly_the_listed_options_are_supported()
    {
        Assert.Equal(
            SupportedOptions.Order(StringComparer.Ordinal),
            TurnOptionTable.All.Where(o => !o.CommandLineOnly && o.Support == TurnOptionSupport.Supported).Select(o => o.Name!).Order(StringComparer.Ordinal));
        foreach (string name in new[] { "web-admin-listen-on-workers", "mysql-userdb", "dh-file" })
        {
            Assert.True(TurnOptionTable.TryFindByName(name, out TurnOption? option));
            Assert.Equal(TurnOptionSupport.NotYetImplemented, option.Support);
        }
    }

    [Fact]
    public void Argument_kinds_and_defaults_follow_coturn()
    {
        TurnOption Find(string name) => TurnOptionTable.TryFindByName(name, out TurnOption? o) ? o : throw new InvalidOperationException(name);

        Assert.Equal((TurnOptionArgument.Optional, TurnOptionValueKind.Integer, "600"), (Find("stale-nonce").Argument, Find("stale-nonce").ValueKind, Find("stale-nonce").DefaultValue));
        Assert.Equal((TurnOptionArgument.Required, TurnOptionValueKind.Port, "3478"), (Find("listening-port").Argument, Find("listening-port").ValueKind, Find("listening-port").DefaultValue));
        Assert.Equal((TurnOptionArgument.Optional, TurnOptionValueKind.Boolean), (Find("lt-cred-mech").Argument, Find("lt-cred-mech").ValueKind));
        Assert.Equal("9641", Find("prometheus-port").DefaultValue);
        Assert.Equal(TurnOptionValueKind.ExternalIp, Find("external-ip").ValueKind);
        Assert.Equal(TurnOptionValueKind.User, Find("user").ValueKind);
        Assert.True(Find("user").Repeatable && Find("listening-ip").Repeatable && Find("static-auth-secret").Repeatable && Find("tls-alternate-server").Repeatable);
        Assert.False(Find("realm").Repeatable);
    }

    [Fact]
    public void Every_option_the_example_config_shows_is_in_the_table()
    {
        string[] shown = [.. File.ReadAllLines("/usr/share/doc/coturn/examples/etc/turnserver.conf")
            .Where(l => l.Length > 1 && (l[0] == '#' ? char.IsAsciiLetter(l[1]) : char.IsAsciiLetter(l[0])))
            .Select(l => l.TrimStart('#').Split('=', ' ', '\t', ':')[0])
            .Distinct()];

        Assert.Equal(["OR", "Local"], shown.Where(n => !TurnOptionTable.TryFindByName(n, out _)));
    }

    [Fact]
    public void Configuration_keys_are_unique_ignoring_case()
    {
        string[] keys = [.. TurnOptionTable.All.Select(o => o.ConfigurationKey).OfType<string>()];

        Assert.Equal(keys.Length, keys.Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }
}
