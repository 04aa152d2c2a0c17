using System.Collections.Frozen;
using TurnServer.UserDb;
using static TurnServer.Hosting.Configuration.TurnOptionSupport;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// The key map: every option coTURN 4.6 knows (its <c>--help</c>, its example turnserver.conf and the option table
/// in its mainrelay.c), plus the few that later coTURN releases added, in coTURN's order. Options TurnServer does
/// not implement yet are still listed so that coTURN configurations load; they draw a warning naming them.
/// </summary>
public static class TurnOptionTable
{
    /// <summary>coTURN's default STUN/TURN port (RFC 8489 section 18.6), used for <c>listening-port</c> and <c>alternate-server</c>.</summary>
    public const int DefaultPort = 3478;

    /// <summary>coTURN's default TLS/DTLS port, used for <c>tls-listening-port</c> and <c>tls-alternate-server</c>.</summary>
    public const int DefaultTlsPort = 5349;

    /// <summary>All options, in the order help text lists them.</summary>
    public static IReadOnlyList<TurnOption> All { get; } =
    [
        new() { ShortName = 'c', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Path, CommandLineOnly = true, DefaultValue = "turnserver.conf, searched in ./, ./etc/, ../etc/, /etc/, /etc/coturn/, /usr/local/etc/ and a few more", Description = "Configuration file to read." },
        new() { ShortName = 'n', Argument = TurnOptionArgument.None, CommandLineOnly = true, Description = "Read no configuration file; take everything from the command line." },
        Value("listening-device", TurnOptionValueKind.String, null, "Network interface the listeners are tied to (SO_BINDTODEVICE, Linux only).", Supported, 'd', keepsEmptyValue: true),
        Value("listening-port", TurnOptionValueKind.Port, "3478", "TURN listener port for UDP and TCP.", Supported, 'p'),
        Value("tls-listening-port", TurnOptionValueKind.Port, "5349", "TURN listener port for TLS and DTLS.", Supported),
        Value("alt-listening-port", TurnOptionValueKind.Port, "0 (listening-port + 1)", "Alternative listening port for RFC 5780 CHANGE-REQUEST.", Supported),
        Value("alt-tls-listening-port", TurnOptionValueKind.Port, "0 (tls-listening-port + 1)", "Alternative TLS/DTLS listening port; accepted, no effect (RFC 5780 discovery runs over plain UDP only).", Supported),
        Value("tcp-proxy-port", TurnOptionValueKind.Port, null, "TCP port (on each listening IP) for connections from a load balancer that sends a PROXY protocol v2 header.", Supported),
        Value("listening-ip", TurnOptionValueKind.IPAddress, "all addresses", "Listener IP address; may be repeated.", Supported, 'L', repeatable: true),
        Value("relay-device", TurnOptionValueKind.String, null, "Network interface the relay sockets are tied to (SO_BINDTODEVICE, Linux only).", Supported, 'i', keepsEmptyValue: true),
        Value("relay-ip", TurnOptionValueKind.IPAddress, "chosen from the listening addresses", "Local address for relay endpoints; may be repeated.", Supported, 'E', repeatable: true),
        Value("external-ip", TurnOptionValueKind.ExternalIp, null, "Public address reported for relays behind NAT, optionally mapped to a private one; may be repeated.", Supported, 'X', repeatable: true),
        new() { Name = "relay-threads", ShortName = 'm', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "number of CPUs", Description = "Number of relay threads (0: single-threaded; at most 128).", Support = Supported },
        Value("min-port", TurnOptionValueKind.Port, "49152", "Lower bound of the relay port range.", Supported),
        Value("max-port", TurnOptionValueKind.Port, "65535", "Upper bound of the relay port range.", Supported),
        Flag("lt-cred-mech", "Use the long-term credential mechanism.", Supported, 'a'),
        Flag("no-auth", "Use no credential mechanism: anonymous access.", Supported, 'z'),
        Value("user", TurnOptionValueKind.User, null, "Long-term credential account, 'name:password' or 'name:0x<key>'; may be repeated.", Supported, 'u', repeatable: true),
        new() { Name = "userdb", Aliases = ["db"], ShortName = 'b', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Path, DefaultValue = "without any user source, the first that exists of " + string.Join(", ", TurnUserDatabase.DefaultSqliteFiles), Description = "SQLite user database file (coTURN's turndb schema).", Support = Supported },
        new() { Name = "psql-userdb", Aliases = ["sql-userdb"], ShortName = 'e', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.String, Description = "PostgreSQL user database connection string, libpq style (coTURN's turndb schema).", Support = Supported },
        Value("mysql-userdb", TurnOptionValueKind.String, null, "MySQL user database connection string.", NotYetImplemented, 'M'),
        Value("mongo-userdb", TurnOptionValueKind.String, null, "MongoDB user database connection string.", NotYetImplemented, 'J'),
        Value("redis-userdb", TurnOptionValueKind.String, null, "Redis user database, 'ip=<host> port=<port> dbname=<number> password=<password> connect_timeout=<seconds>' (coTURN's key layout).", Supported, 'N'),
        Value("redis-statsdb", TurnOptionValueKind.String, null, "Redis database for allocation statuses and events (coTURN's keys and channels), same form as redis-userdb.", Supported, 'O'),
        Flag("prometheus", "Serve Prometheus metrics on /metrics, and /healthz for load balancers.", Supported),
        OptionalValue("prometheus-port", TurnOptionValueKind.Port, "9641", "Prometheus metrics port.", Supported),
        OptionalValue("prometheus-address", TurnOptionValueKind.IPAddress, "any address", "Prometheus listening address.", Supported),
        Value("prometheus-path", TurnOptionValueKind.String, "/metrics", "Path of the metrics page (coTURN 4.7 and later).", Supported),
        Flag("prometheus-username-labels", "Label traffic metrics with client user names.", Supported),
        Flag("use-auth-secret", "TURN REST API: authenticate with time-limited credentials derived from a shared secret.", Supported),
        Value("static-auth-secret", TurnOptionValueKind.String, null, "Shared secret for the TURN REST API; may be repeated.", Supported, repeatable: true),
        Flag("no-auth-pings", "Disable periodic health checks of the dynamic secret tables (always so here: the databases are read when needed, never pinged).", Supported),
        Flag("no-dynamic-ip-list", "Do not use the user database's allowed/denied peer IP lists.", Supported),
        Flag("no-dynamic-realms", "Do not use the user database's realm options (turn_realm_option); realms are never assigned dynamically here.", Supported),
        Value("realm", TurnOptionValueKind.String, "the system's domain name", "Default realm for users.", Supported, 'r'),
        Value("server-name", TurnOptionValueKind.String, "the realm", "Server name, used for oAuth.", Supported),
        Flag("oauth", "Take RFC 7635 access tokens (third-party authorization); keys from the user database's oauth_key table.", Supported),
        new() { Name = "user-quota", ShortName = 'q', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0 (unlimited)", Description = "Concurrent allocations one user may hold.", Support = Supported },
        new() { Name = "total-quota", ShortName = 'Q', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0 (unlimited)", Description = "Concurrent allocations the whole server may hold.", Support = Supported },
        new() { Name = "max-bps", ShortName = 's', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0 (unlimited)", Description = "Relayed bytes per second one allocation may carry each way; more is dropped.", Support = Supported },
        new() { Name = "bps-capacity", ShortName = 'B', Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0 (unlimited)", Description = "Bytes per second granted to all allocations together (each takes max-bps); Allocate gets 486 when none is left.", Support = Supported },
        Flag("verbose", "Moderate verbose logging.", Supported, 'v'),
        Flag("Verbose", "Extra verbose logging, for debugging.", Supported, 'V', configurationKey: "extra-verbose"),
        Flag("daemon", "Run in the background: returns once the server has bound its listeners (or with its exit code if it could not start).", Supported, 'o'),
        new() { Name = "no-software-attribute", Aliases = ["prod"], Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.Boolean, DefaultValue = "off", Description = "Do not send the SOFTWARE attribute, whatever software-attribute says (the default). 'prod' is coTURN's older name.", Support = Supported },
        Flag("no-sslv2", "Deprecated in coTURN, no effect: SSL 2 is never offered.", Supported),
        Flag("no-sslv3", "Deprecated in coTURN, no effect: SSL 3 is never offered.", Supported),
        new() { Name = "secret-ts-exp-time", Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.String, Description = "Deprecated in coTURN, no effect: a TURN REST username carries its own expiry time.", Support = Supported },
        Flag("software-attribute", "Send the SOFTWARE attribute (server name and version), off by default as in coTURN 4.7.", Supported),
        Flag("fingerprint", "Add FINGERPRINT to TURN messages.", Supported, 'f'),
        Flag("check-origin-consistency", "Require the same ORIGIN throughout a session.", Supported),
        Flag("no-udp", "Start no UDP client listeners.", Supported),
        Flag("no-tcp", "Start no TCP client listeners.", Supported),
        Flag("no-tls", "Start no TLS client listeners.", Supported),
        Flag("no-dtls", "Start no DTLS client listeners.", Supported),
        Flag("no-udp-relay", "Allow no UDP relay endpoints.", Supported),
        Flag("no-tcp-relay", "Allow no TCP relay endpoints (RFC 6062).", Supported),
        new() { Name = "stale-nonce", Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "600", Description = "Nonce lifetime in seconds; 0: nonces never expire; no value: 600.", Support = Supported },
        new() { Name = "max-allocate-lifetime", Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.Integer, Minimum = 1, DefaultValue = "3600", Description = "Maximum allocation lifetime in seconds.", Support = Supported },
        new() { Name = "channel-lifetime", Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.Integer, Minimum = 1, DefaultValue = "600", Description = "Channel binding lifetime in seconds (RFC value; change only for tests).", Support = Supported },
        new() { Name = "permission-lifetime", Argument = TurnOptionArgument.Optional, ValueKind = TurnOptionValueKind.Integer, Minimum = 1, DefaultValue = "300", Description = "Permission lifetime in seconds (RFC value; change only for tests).", Support = Supported },
        Flag("stun-only", "STUN only: ignore all TURN requests.", Supported, 'S'),
        Flag("no-stun", "TURN only: ignore STUN Binding requests.", Supported),
        Value("cert", TurnOptionValueKind.Path, "turn_server_cert.pem", "TLS certificate file, PEM.", Supported),
        Flag("raw-public-keys", "Offer RFC 7250 raw public keys in TLS (coTURN 4.7 and later).", NotYetImplemented),
        Value("pkey", TurnOptionValueKind.Path, "turn_server_pkey.pem", "TLS private key file, PEM.", Supported),
        Value("pkey-pwd", TurnOptionValueKind.String, null, "Password of an encrypted private key.", Supported),
        Value("log-file", TurnOptionValueKind.Path, "none (stdout only)", "Log file; 'stdout' or '-' log to stdout, 'syslog' to syslog.", Supported, 'l'),
        Flag("no-stdout-log", "Do not log to stdout as well as to the log file.", Supported),
        Flag("syslog", "Log to syslog instead of a file.", Supported),
        Flag("simple-log", "Use the log file name as given, without the date, and no rollover.", Supported),
        Flag("new-log-timestamp", "Use ISO-8601 timestamps in the log.", Supported),
        Value("new-log-timestamp-format", TurnOptionValueKind.String, "%FT%T%z", "strftime format of log timestamps (needs new-log-timestamp).", Supported),
        Value("aux-server", TurnOptionValueKind.IPEndPoint, null, "Auxiliary STUN/TURN listening endpoint (ip:port, UDP and TCP), never redirecting to an alternate server; may be repeated.", Supported, repeatable: true),
        Flag("udp-self-balance", "Send UDP Allocates on the main ports to the auxiliary servers in turn (300 Try Alternate).", Supported),
        Value("alternate-server", TurnOptionValueKind.IPEndPoint, null, "Server to redirect UDP/TCP allocations to (port default 3478); may be repeated.", Supported, repeatable: true),
        Value("tls-alternate-server", TurnOptionValueKind.IPEndPoint, null, "Server to redirect TLS/DTLS allocations to (port default 5349); may be repeated.", Supported, repeatable: true),
        Value("rest-api-separator", TurnOptionValueKind.Character, ":", "Separator of timestamp and user name in TURN REST API user names.", Supported, 'C'),
        new() { Name = "max-allocate-timeout", Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, Minimum = 1, DefaultValue = "60", Description = "Seconds a TCP/TLS connection or DTLS session may stay open without an allocation.", Support = Supported },
        Flag("no-multicast-peers", "Refuse peers on multicast and broadcast addresses.", Supported),
        Flag("allow-loopback-peers", "Allow peers on loopback addresses (not for production).", Supported),
        Value("allowed-peer-ip", TurnOptionValueKind.IPAddressRange, null, "Peer address or range explicitly allowed; may be repeated.", Supported, repeatable: true),
        Value("denied-peer-ip", TurnOptionValueKind.IPAddressRange, null, "Peer address or range refused; may be repeated.", Supported, repeatable: true),
        Value("cipher-list", TurnOptionValueKind.String, "DEFAULT", "OpenSSL-style cipher list for TLS (not DTLS).", Supported),
        Value("pidfile", TurnOptionValueKind.Path, "none; with daemon, /var/run/turnserver.pid (root) or /var/tmp/turnserver.pid", "File to write the process ID to.", Supported, keepsEmptyValue: true),
        new() { Name = "drain-min-allocations", Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0", Description = "Draining (SIGUSR1) ends the process once this many allocations or fewer remain.", Support = Supported },
        new() { Name = "drain-timeout", Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, DefaultValue = "0 (no limit)", Description = "TurnServer only: seconds a drain (SIGUSR1) may last before the process ends anyway.", Support = Supported },
        Flag("secure-stun", "Require authentication of STUN Binding requests.", Supported),
        Value("CA-file", TurnOptionValueKind.Path, null, "CA certificates (PEM); TLS and DTLS clients must then present a certificate they issued.", Supported),
        Value("dh-file", TurnOptionValueKind.Path, null, "Custom Diffie-Hellman parameters, PEM.", NotYetImplemented),
        Value("proc-user", TurnOptionValueKind.String, null, "User (name or ID) to run as once the listeners are bound; also its primary group unless proc-group is given.", Supported, keepsEmptyValue: true),
        Value("proc-group", TurnOptionValueKind.String, null, "Group (name or ID) to run as once the listeners are bound.", Supported, keepsEmptyValue: true),
        Flag("mobility", "Offer RFC 8016 mobility: a ticket moves an allocation to the client's new address.", Supported),
        Flag("no-cli", "Turn the telnet CLI off (it is on only with a cli-password, as in coTURN).", Supported),
        Value("cli-ip", TurnOptionValueKind.IPAddress, "127.0.0.1", "CLI listening address.", Supported),
        Value("cli-port", TurnOptionValueKind.Port, "5766", "CLI listening port.", Supported),
        Value("cli-password", TurnOptionValueKind.String, null, "CLI password (plain or turnadmin -P form); without one the CLI is off.", Supported),
        Flag("web-admin", "Enable the HTTPS web admin interface (needs cert, pkey and admin users in the user database).", Supported),
        Value("web-admin-ip", TurnOptionValueKind.IPAddress, "127.0.0.1", "Web admin listening address.", Supported),
        Value("web-admin-port", TurnOptionValueKind.Port, "8080", "Web admin listening port.", Supported),
        Flag("web-admin-listen-on-workers", "Let the web admin listen on the STUN/TURN worker ports.", NotYetImplemented),
        Flag("server-relay", "Skip permission checks on relay endpoints (non-standard, dangerous).", Supported),
        Value("cli-max-output-sessions", TurnOptionValueKind.Integer, "256", "Sessions the CLI 'ps' command lists at most.", Supported),
        Value("ec-curve-name", TurnOptionValueKind.String, "chosen by OpenSSL", "Elliptic curve for ECDHE.", NotYetImplemented),
        Flag("dh566", "Use the predefined 566-bit DH key.", NotYetImplemented),
        Flag("dh1066", "Use the predefined 1066-bit DH key.", NotYetImplemented),
        new() { Name = "ne", Argument = TurnOptionArgument.Required, ValueKind = TurnOptionValueKind.Integer, Minimum = 1, Maximum = 3, Description = "coTURN network engine type (internal).", Support = NotYetImplemented },
        Flag("no-tlsv1", "Refuse TLS 1.0 and DTLS 1.0 (always so here: only TLS 1.2, 1.3 and DTLS 1.2 are offered).", Supported),
        Flag("no-tlsv1_1", "Refuse TLS 1.1 (always so here).", Supported),
        Flag("no-tlsv1_2", "Refuse TLS 1.2 and DTLS 1.2.", Supported),
        Value("secret-key-file", TurnOptionValueKind.Path, null, "AES key file for encrypted MySQL passwords.", NotYetImplemented),
        new() { Name = "keep-address-family", ShortName = 'K', Argument = TurnOptionArgument.Optional, ShortNameTakesValue = true, ValueKind = TurnOptionValueKind.Boolean, DefaultValue = "off", Description = "Deprecated: relay in the client's address family (allocation-default-address-family=keep).", Support = Supported },
        Value("allocation-default-address-family", TurnOptionValueKind.String, "ipv4", "Relay address family when the client asks for none: ipv4, ipv6 or keep (the family of the address the client reached).", Supported, 'A'),
        Value("acme-redirect", TurnOptionValueKind.String, null, "URL that HTTP GET /.well-known/acme-challenge/TOKEN on a TURN TCP port is redirected to (URL + TOKEN, 301).", Supported),
        Flag("log-binding", "Log STUN Binding requests.", Supported),
        Flag("rfc5780", "Enable RFC 5780 NAT behaviour discovery (needs two listening IPs of a family; off by default as in coTURN 4.7).", Supported),
        Flag("no-rfc5780", "Disable RFC 5780 NAT behaviour discovery, whatever rfc5780 says.", Supported),
        Flag("no-stun-backward-compatibility", "Refuse old (RFC 3489) Binding requests; send only XOR-MAPPED-ADDRESS (always so here).", Supported),
        Flag("stun-backward-compatibility", "Also send MAPPED-ADDRESS in Binding responses, for old clients (later coTURN releases).", NotYetImplemented, notHonoured: "Binding responses carry XOR-MAPPED-ADDRESS only, never MAPPED-ADDRESS"),
        Flag("rfc3489-compatibility", "Answer RFC 3489 ('classic' STUN, no magic cookie) Binding requests (later coTURN releases).", NotYetImplemented, notHonoured: "RFC 3489 Binding requests (without the magic cookie) are never answered"),
        Flag("response-origin-only-with-rfc5780", "Send RESPONSE-ORIGIN only when RFC 5780 is enabled (always so here).", Supported),
        Flag("respond-http-unsupported", "Answer HTTP requests on TURN TCP/TLS ports with 400 instead of closing (coTURN 4.7 and later).", Supported),
        Value("syslog-facility", TurnOptionValueKind.String, "LOG_USER", "Syslog facility (LOG_USER, LOG_DAEMON, LOG_LOCAL0 ... LOG_LOCAL7, ...).", Supported),
        new() { Name = "version", Argument = TurnOptionArgument.Optional, CommandLineOnly = true, Description = "Print the version and exit." },
        new() { Name = "help", ShortName = 'h', Argument = TurnOptionArgument.None, CommandLineOnly = true, Description = "Print this help and exit." },
    ];

    private static readonly FrozenDictionary<string, TurnOption> ByLongName = All
        .SelectMany(o => o.Name is null ? [] : o.Aliases.Prepend(o.Name).Select(n => KeyValuePair.Create(n, o)))
        .ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<char, TurnOption> ByShortName = All
        .Where(o => o.ShortName is not null)
        .ToFrozenDictionary(o => o.ShortName!.Value);

    /// <summary>Every long name and alias, for prefix matching on the command line.</summary>
    internal static IEnumerable<KeyValuePair<string, TurnOption>> LongNames => ByLongName;

    /// <summary>Finds an option by its exact, case-sensitive long name or alias, as turnserver.conf and <c>--name</c> use them.</summary>
    public static bool TryFindByName(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TurnOption? option) =>
        ByLongName.TryGetValue(name, out option);

    /// <summary>Finds an option by its single-letter form (<c>p</c> for <c>-p</c>).</summary>
    public static bool TryFindByShortName(char shortName, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TurnOption? option) =>
        ByShortName.TryGetValue(shortName, out option);

    private static TurnOption Flag(string name, string description, TurnOptionSupport support, char? shortName = null, string? configurationKey = null, string? notHonoured = null) => new()
    {
        NotHonoured = notHonoured,
        Name = name,
        ShortName = shortName,
        Argument = TurnOptionArgument.Optional,
        ValueKind = TurnOptionValueKind.Boolean,
        DefaultValue = "off",
        Description = description,
        Support = support,
        ConfigurationKey = configurationKey,
    };

    private static TurnOption Value(
        string name, TurnOptionValueKind kind, string? defaultValue, string description, TurnOptionSupport support, char? shortName = null, bool repeatable = false, bool keepsEmptyValue = false) => new()
        {
            Name = name,
            ShortName = shortName,
            Argument = TurnOptionArgument.Required,
            ValueKind = kind,
            DefaultValue = defaultValue,
            Description = description,
            Support = support,
            Repeatable = repeatable,
            KeepsEmptyValue = keepsEmptyValue,
        };

    // coTURN declares these with an optional argument although they carry a value; without one the default applies.
    private static TurnOption OptionalValue(string name, TurnOptionValueKind kind, string defaultValue, string description, TurnOptionSupport support) => new()
    {
        Name = name,
        Argument = TurnOptionArgument.Optional,
        ValueKind = kind,
        DefaultValue = defaultValue,
        Description = description,
        Support = support,
    };
}
