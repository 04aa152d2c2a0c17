using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using TurnServer.Core;
using TurnServer.Core.Peers;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Turns the layered configuration into <see cref="TurnServerSettings"/>: validates every value of a supported
/// option (and of the not-yet-implemented ones kept as raw settings), collects every error with the option, the
/// value and where it came from, and applies coTURN's rules for what options imply and which cannot go together.
/// </summary>
internal sealed class TurnServerSettingsBinder
{
    private const int MaxRelayThreads = 128;

    // Flags coTURN's set_option switches on whatever value they carry (use-auth-secret=0 turns it on there).
    private static readonly string[] FlagsCoturnSetsWhateverTheValue =
        ["use-auth-secret", "prometheus", "prometheus-username-labels", "no-auth-pings", "no-dynamic-ip-list", "no-dynamic-realms", "new-log-timestamp", "no-rfc5780"];

    // coTURN's cert and pkey when none are given, looked for as its configuration file is.
    private const string DefaultCertFile = "turn_server_cert.pem";
    private const string DefaultKeyFile = "turn_server_pkey.pem";

    private const string NotAnAddress = "not an IP address or host name";

    private const string BooleanRule = "not a boolean (as in coTURN, the first letter decides: 0, n, f false; 1-9, y, t true; or on/off)";

    private readonly IConfiguration _configuration;
    private readonly IReadOnlyDictionary<string, string> _origins;
    private readonly IReadOnlyDictionary<string, int> _positions;
    private readonly List<string> _errors;
    private readonly List<string> _warnings;
    private readonly Func<string, IPAddress[]> _resolveHost;
    private readonly Func<string, string?> _findFile;

    // Why the last host name looked up did not resolve, for the error about its value; null when none failed.
    private string? _hostFailure;

    // Set when cert or pkey is coTURN's default file name, found by the search, not named.
    private bool _keyFileByDefault;

    private TurnServerSettingsBinder(IConfiguration configuration, IReadOnlyDictionary<string, string> origins, IReadOnlyDictionary<string, int> positions, Func<string, IPAddress[]> resolveHost, Func<string, string?> findFile, List<string> errors, List<string> warnings)
    {
        _configuration = configuration;
        _origins = origins;
        _positions = positions;
        _resolveHost = resolveHost;
        _findFile = findFile;
        _errors = errors;
        _warnings = warnings;
    }

    /// <summary>Returns the settings; they are only valid when nothing was added to <paramref name="errors"/>.</summary>
    /// <param name="configuration">The layered options.</param>
    /// <param name="origins">Where each key's value came from, for messages.</param>
    /// <param name="positions">
    /// For each key, where its value was given in reading order (file, environment, command line): of options that set
    /// one thing in coTURN, such as <c>userdb</c> and <c>redis-userdb</c>, the later wins.
    /// </param>
    /// <param name="configFilePath">The file read, if any.</param>
    /// <param name="domainName">The system's domain name, the default realm.</param>
    /// <param name="resolveHost">
    /// Looks up a host name given where an address is expected (<see cref="Dns.GetHostAddresses(string)"/>); may throw
    /// <see cref="SocketException"/> or <see cref="ArgumentException"/>.
    /// </param>
    /// <param name="findFile">
    /// Finds a file named relatively as coTURN finds its configuration file (<see cref="ConfigFileLocator.Resolve(string)"/>);
    /// null when it is nowhere.
    /// </param>
    /// <param name="errors">Receives what makes the configuration unusable.</param>
    /// <param name="warnings">Receives what is ignored or taken over.</param>
    public static TurnServerSettings Bind(
        IConfiguration configuration,
        IReadOnlyDictionary<string, string> origins,
        IReadOnlyDictionary<string, int> positions,
        string? configFilePath,
        string? domainName,
        Func<string, IPAddress[]> resolveHost,
        Func<string, string?> findFile,
        List<string> errors,
        List<string> warnings) =>
        new TurnServerSettingsBinder(configuration, origins, positions, resolveHost, findFile, errors, warnings).Bind(configFilePath, domainName);

    /// <summary>coTURN's default realm is the system's (NIS) domain name; Linux reports "(none)" when there is none.</summary>
    private static string DefaultRealm(string? domainName) =>
        string.IsNullOrWhiteSpace(domainName) || domainName.Trim() == "(none)" ? "" : domainName.Trim();

    private TurnServerSettings Bind(string? configFilePath, string? domainName)
    {
        int minPort = Port("min-port", 49152);
        int maxPort = Port("max-port", 65535);
        if (minPort > maxPort)
        {
            _errors.Add($"{OriginsOf("min-port", "max-port")}: option 'min-port' ({minPort}) is above 'max-port' ({maxPort})");
        }

        List<ExternalIpMapping> externalIps = List("external-ip", "not an external IP ('public-ip' or 'public-ip/private-ip')", (string s, HostLookup lookup, out ExternalIpMapping m) => TurnValueParser.TryParseExternalIp(s, lookup, out m));
        // One plain address per family: an IPv4 one for IPv4 relays and an IPv6 one for IPv6 relays.
        if (externalIps.Where(m => m.Private is null).GroupBy(m => m.Public.AddressFamily).Any(g => g.Count() > 1))
        {
            _errors.Add($"{OriginsOf("external-ip")}: option 'external-ip' may be given without a private address only once per address family; map several addresses as 'public-ip/private-ip'");
        }

        int? relayThreads = Present("relay-threads") ? Integer("relay-threads", 0) : null;
        if (relayThreads > MaxRelayThreads)
        {
            _warnings.Add($"{OriginsOf("relay-threads")}: option 'relay-threads' is limited to {MaxRelayThreads}, as in coTURN");
            relayThreads = MaxRelayThreads;
        }

        string realm = Text("realm") ?? DefaultRealm(domainName);
        (bool ltCredMech, bool useAuthSecret, bool noAuth, List<string> secrets, List<UserEntry> users, bool wantsDefaultUserDb) = Authentication(realm);
        string? userDb = Text("userdb");
        string? psqlUserDb = DatabaseConnection("psql-userdb", TurnServer.UserDb.TurnUserDatabase.PostgreSql);
        string? redisUserDb = DatabaseConnection("redis-userdb", TurnServer.UserDb.TurnUserDatabase.Redis);

        // coTURN's userdb, psql-userdb and redis-userdb all write its one user database setting: the last one given wins.
        string[] databases = [.. new[] { "psql-userdb", "redis-userdb", "userdb" }.Where(Present).OrderBy(Position)];
        if (databases.Length > 1)
        {
            _warnings.Add($"{OriginsOf(databases)}: {string.Join(", ", databases.Select(d => $"'{d}'"))} are all given; the last one, '{databases[^1]}', is used, as in coTURN");
            userDb = databases[^1] == "userdb" ? userDb : null;
            psqlUserDb = databases[^1] == "psql-userdb" ? psqlUserDb : null;
            redisUserDb = databases[^1] == "redis-userdb" ? redisUserDb : null;
        }

        (uint? procUserId, uint? procGroupId) = ProcessIdentity();
        var settings = new TurnServerSettings
        {
            ConfigFilePath = configFilePath,
            ListeningPort = Port("listening-port", TurnOptionTable.DefaultPort),
            TlsListeningPort = Port("tls-listening-port", TurnOptionTable.DefaultTlsPort),
            AltListeningPort = Port("alt-listening-port", 0),
            AltTlsListeningPort = Port("alt-tls-listening-port", 0),
            TcpProxyPort = Present("tcp-proxy-port") ? Port("tcp-proxy-port", 0) : null,
            ListeningIps = Addresses("listening-ip"),
            RelayIps = Addresses("relay-ip"),
            ListeningDevice = Device("listening-device"),
            RelayDevice = Device("relay-device"),
            ExternalIps = externalIps,
            MinPort = minPort,
            MaxPort = maxPort,
            Realm = realm,
            ServerName = Text("server-name"),
            LtCredMech = ltCredMech,
            UseAuthSecret = useAuthSecret,
            StaticAuthSecrets = secrets,
            RestApiSeparator = Character("rest-api-separator", ':'),
            Users = users,
            NoAuth = noAuth,
            Fingerprint = Boolean("fingerprint"),
            StaleNonce = Integer("stale-nonce", 600),
            MaxAllocateLifetime = Integer("max-allocate-lifetime", 3600),
            MaxAllocateTimeout = Integer("max-allocate-timeout", 60),
            ChannelLifetime = Integer("channel-lifetime", 600),
            PermissionLifetime = Integer("permission-lifetime", 300),
            UserQuota = Integer("user-quota", 0),
            TotalQuota = Integer("total-quota", 0),
            MaxBps = Integer("max-bps", 0),
            NoDynamicIpList = Boolean("no-dynamic-ip-list"),
            AcmeRedirect = Text("acme-redirect") is { Length: > 0 } acme ? acme : null,
            RespondHttpUnsupported = Boolean("respond-http-unsupported"),
            NoDynamicRealms = Boolean("no-dynamic-realms"),
            BpsCapacity = Integer("bps-capacity", 0),
            DeniedPeerIps = List("denied-peer-ip", "not an IP address or range ('ip', 'ip-ip' or 'ip/prefix')", (string s, HostLookup _, out IPAddressRange r) => IPAddressRange.TryParse(s, out r)),
            AllowedPeerIps = List("allowed-peer-ip", "not an IP address or range ('ip', 'ip-ip' or 'ip/prefix')", (string s, HostLookup _, out IPAddressRange r) => IPAddressRange.TryParse(s, out r)),
            AllowLoopbackPeers = Boolean("allow-loopback-peers"),
            NoMulticastPeers = Boolean("no-multicast-peers"),
            NoUdp = Boolean("no-udp"),
            Rfc5780 = Boolean("rfc5780") && !Boolean("no-rfc5780"),
            DefaultRelayFamily = RelayFamily(),
            NoTcp = Boolean("no-tcp"),
            NoTls = Boolean("no-tls"),
            NoDtls = Boolean("no-dtls"),
            NoUdpRelay = Boolean("no-udp-relay"),
            NoTcpRelay = Boolean("no-tcp-relay"),
            NoSoftwareAttribute = NoSoftwareAttribute(),
            LogFile = Text("log-file"),
            NoStdoutLog = Boolean("no-stdout-log"),
            SimpleLog = Boolean("simple-log"),
            Syslog = Boolean("syslog") || Text("log-file") == "syslog",
            SyslogFacility = Facility(),
            LogTimestampFormat = TimestampFormat(),
            Verbose = Boolean("verbose"),
            ExtraVerbose = Boolean("Verbose"),
            PidFile = PidFile(),
            Daemon = Boolean("daemon"),
            ProcUserId = procUserId,
            ProcGroupId = procGroupId,
            DrainMinAllocations = Integer("drain-min-allocations", 0),
            DrainTimeout = Integer("drain-timeout", 0),
            Cert = KeyFile("cert", DefaultCertFile),
            PKey = KeyFile("pkey", DefaultKeyFile),
            KeyFilesByDefault = _keyFileByDefault,
            PKeyPassword = Text("pkey-pwd"),
            CaFile = KeyFile("CA-file", null),
            CipherList = Text("cipher-list"),
            NoTlsV1 = Boolean("no-tlsv1"),
            NoTlsV1_1 = Boolean("no-tlsv1_1"),
            NoTlsV1_2 = Boolean("no-tlsv1_2"),
            SecureStun = Boolean("secure-stun"),
            Mobility = Boolean("mobility"),
            ServerRelay = Boolean("server-relay"),
            CheckOriginConsistency = Boolean("check-origin-consistency"),
            OAuth = Boolean("oauth"),
            StunOnly = Boolean("stun-only"),
            NoStun = Boolean("no-stun"),
            RelayThreads = relayThreads,
            LogBinding = Boolean("log-binding"),
            AlternateServers = EndPoints("alternate-server", TurnOptionTable.DefaultPort),
            TlsAlternateServers = EndPoints("tls-alternate-server", TurnOptionTable.DefaultTlsPort),
            AuxServers = EndPoints("aux-server", TurnOptionTable.DefaultPort),
            UdpSelfBalance = Boolean("udp-self-balance"),
            NoCli = Boolean("no-cli"),
            CliIp = OptionalAddress("cli-ip") ?? IPAddress.Loopback,
            CliPort = Port("cli-port", 5766),
            WebAdmin = Boolean("web-admin"),
            WebAdminIp = OptionalAddress("web-admin-ip") ?? IPAddress.Loopback,
            WebAdminPort = Port("web-admin-port", 8080),
            CliPassword = Text("cli-password") is { Length: > 0 } cliPassword ? cliPassword : null,
            CliMaxOutputSessions = Integer("cli-max-output-sessions", 256),
            Prometheus = Boolean("prometheus"),
            PrometheusPort = Port("prometheus-port", 9641),
            PrometheusAddress = OptionalAddress("prometheus-address"),
            PrometheusPath = MetricsPath(),
            PrometheusUsernameLabels = Boolean("prometheus-username-labels"),
            UserDb = userDb,
            PsqlUserDb = psqlUserDb,
            RedisUserDb = redisUserDb,
            RedisStatsDb = DatabaseConnection("redis-statsdb", TurnServer.UserDb.RedisStatsDatabase.Open),
            WantsDefaultUserDb = wantsDefaultUserDb,
        };

        Exclusive(settings.NoUdpRelay && settings.NoTcpRelay, "no-udp-relay", "no-tcp-relay", "no relay endpoint could be allocated");
        Exclusive(settings.StunOnly && settings.NoStun, "stun-only", "no-stun", "the server would answer nothing");
        if (settings is { NoUdp: true, NoTcp: true, NoTls: true, NoDtls: true })
        {
            _errors.Add($"{OriginsOf("no-udp", "no-tcp", "no-tls", "no-dtls")}: options 'no-udp', 'no-tcp', 'no-tls' and 'no-dtls' cannot all be used together: no client listener would be left");
        }

        // coTURN exits on this; starting serves clients, and a max-bps from the user database's realm options still applies.
        if (settings is { BpsCapacity: > 0, MaxBps: 0 })
        {
            _warnings.Add($"{OriginsOf("bps-capacity")}: option 'bps-capacity' is set without 'max-bps', which coTURN refuses to start with; it applies only while a 'max-bps' does (the user database's realm option may give one), so allocations are not limited now");
        }

        if (settings.OAuth && settings.NoAuth)
        {
            _warnings.Add($"{OriginsOf("oauth")}: option 'oauth' has no effect with 'no-auth'");
        }
        else if (settings is { OAuth: true, UserDb: null, PsqlUserDb: null, RedisUserDb: null, WantsDefaultUserDb: false })
        {
            _warnings.Add($"{OriginsOf("oauth")}: option 'oauth' takes its keys from the user database's oauth_key table, and no 'userdb', 'psql-userdb' or 'redis-userdb' is given: every access token will be refused");
        }

        if (settings is { WebAdmin: true } && (settings.NoAuth || settings is { UserDb: null, PsqlUserDb: null, RedisUserDb: null, WantsDefaultUserDb: false }))
        {
            _warnings.Add($"{OriginsOf("web-admin")}: option 'web-admin' needs administrators from the user database's admin_user table (turnadmin -A), and no 'userdb', 'psql-userdb' or 'redis-userdb' is in use: the web admin is not started");
        }
        else if (settings is { WebAdmin: true } && (settings.Cert is null || settings.PKey is null))
        {
            _warnings.Add($"{OriginsOf("web-admin")}: option 'web-admin' is served over HTTPS only, and no 'cert' and 'pkey' are given: the web admin is not started");
        }

        foreach (string flag in FlagsCoturnSetsWhateverTheValue)
        {
            if (TryGet(flag, out string value, out string origin) && TurnValueParser.TryParseBoolean(value, out bool on) && !on)
            {
                _warnings.Add($"{origin}: option '{flag}' is off, as its value says; coTURN would turn it on anyway, since it ignores this option's value");
            }
        }

        if (settings.AllowLoopbackPeers)
        {
            _warnings.Add($"{OriginsOf("allow-loopback-peers")}: option 'allow-loopback-peers' lets clients reach services on this host; do not use it in production");
        }

        // coTURN listens on every address too; with usernames in the metrics, that lets any network that reaches the port read them.
        if (settings is { Prometheus: true, PrometheusUsernameLabels: true } && (settings.PrometheusAddress is null || settings.PrometheusAddress.Equals(IPAddress.Any) || settings.PrometheusAddress.Equals(IPAddress.IPv6Any)))
        {
            string why = settings.PrometheusAddress is null ? "no 'prometheus-address' is given" : $"'prometheus-address' is {settings.PrometheusAddress}";
            _warnings.Add($"{OriginsOf("prometheus-username-labels")}: option 'prometheus-username-labels' puts usernames in the metrics, served on every address (port {settings.PrometheusPort}) as {why}: anyone who reaches the port can read them; set 'prometheus-address' to an address only the scraper reaches");
        }

        return settings;
    }

    /// <summary>
    /// <c>pidfile</c>; with <c>daemon</c> and no <c>pidfile</c> line, coTURN's default: /var/run/turnserver.pid for
    /// root, /var/tmp/turnserver.pid for anyone else. An empty <c>pidfile=</c> (coTURN's unit passes one) means none.
    /// </summary>
    private string? PidFile()
    {
        if (TryGet("pidfile", out string value, out _))
        {
            return value.Length == 0 ? null : value;
        }

        if (!Boolean("daemon"))
        {
            return null;
        }

        return Environment.UserName == "root" ? "/var/run/turnserver.pid" : "/var/tmp/turnserver.pid";
    }

    /// <summary>
    /// <c>proc-user</c> and <c>proc-group</c> resolved to IDs now, so a name the system does not know stops start-up
    /// with the option and line. Unlike coTURN, <c>proc-user</c> alone also takes the user's primary group, rather than
    /// leaving the process in root's group.
    /// </summary>
    private (uint? UserId, uint? GroupId) ProcessIdentity()
    {
        uint? userId = null;
        uint? groupId = null;
        if (Text("proc-user") is { } user)
        {
            if (Lifecycle.ProcessCredentials.TryFindUser(user, out uint uid, out uint primaryGroup))
            {
                (userId, groupId) = (uid, primaryGroup);
            }
            else
            {
                Invalid(Origin(Key("proc-user")), user, "proc-user", "no such user on this system");
            }
        }

        if (Text("proc-group") is { } group)
        {
            if (Lifecycle.ProcessCredentials.TryFindGroup(group, out uint gid))
            {
                groupId = gid;
            }
            else
            {
                Invalid(Origin(Key("proc-group")), group, "proc-group", "no such group on this system");
            }
        }

        return (userId, groupId);
    }

    /// <summary>
    /// coTURN's rules (mainrelay.c, after reading all options): <c>use-auth-secret</c> and <c>static-auth-secret</c>
    /// switch the long-term mechanism on; static users are ignored when a shared secret is in use; users without
    /// <c>lt-cred-mech</c> switch it on with a warning; no mechanism at all means anonymous access; long-term
    /// credentials and <c>no-auth</c> together are an error; <c>no-auth</c> with users ignores the users.
    /// </summary>
    private (bool LtCredMech, bool UseAuthSecret, bool NoAuth, List<string> Secrets, List<UserEntry> Users, bool WantsDefaultUserDb) Authentication(string realm)
    {
        bool ltCredMech = Boolean("lt-cred-mech");
        bool noAuth = Boolean("no-auth");
        bool useAuthSecretGiven = Boolean("use-auth-secret");
        List<string> secrets = [.. Items("static-auth-secret").Select(i => i.Value)];

        bool useAuthSecret = useAuthSecretGiven || secrets.Count > 0;
        List<UserEntry> users = Users();

        List<string> longTermOptions = [];
        if (ltCredMech)
        {
            longTermOptions.Add("lt-cred-mech");
        }

        if (useAuthSecretGiven)
        {
            longTermOptions.Add("use-auth-secret");
        }

        if (secrets.Count > 0)
        {
            longTermOptions.Add("static-auth-secret");
        }

        if (noAuth && longTermOptions.Count > 0)
        {
            _errors.Add($"{OriginsOf(["no-auth", .. longTermOptions])}: option 'no-auth' cannot be used with '{string.Join("', '", longTermOptions)}'");
        }

        if (ltCredMech && useAuthSecret)
        {
            _warnings.Add($"{OriginsOf("lt-cred-mech", "use-auth-secret", "static-auth-secret")}: both 'lt-cred-mech' and 'use-auth-secret' are set; the shared secret takes over, as in coTURN");
        }

        if (useAuthSecret && users.Count > 0)
        {
            _warnings.Add($"{OriginsOf("user")}: option 'user' is ignored with 'use-auth-secret', as in coTURN");
            users.Clear();
        }

        if (noAuth && users.Count > 0)
        {
            _warnings.Add($"{OriginsOf("user")}: option 'user' is ignored with 'no-auth', as in coTURN");
            users.Clear();
        }

        ltCredMech |= useAuthSecret;
        bool wantsDefaultUserDb = false;
        if (!ltCredMech && !noAuth)
        {
            if (users.Count > 0)
            {
                _warnings.Add($"{OriginsOf("user")}: user accounts given without 'lt-cred-mech'; turning 'lt-cred-mech' on, as coTURN does");
                ltCredMech = true;
            }
            else
            {
                _warnings.Add("no credential mechanism configured (lt-cred-mech, use-auth-secret, user or no-auth): allowing anonymous access, as coTURN does; set 'no-auth' to say so, or configure credentials");
                noAuth = true;
            }
        }

        if (ltCredMech && !noAuth)
        {
            if (realm.Length == 0)
            {
                _warnings.Add("long-term credentials are in use but no realm is set (option 'realm') and the system has no domain name");
            }

            bool database = Present("userdb") || Present("psql-userdb") || Present("mysql-userdb") || Present("mongo-userdb") || Present("redis-userdb");
            if (!useAuthSecret && users.Count == 0 && !database)
            {
                _warnings.Add("long-term credentials are in use but no 'user' or 'userdb' is configured; users are read from coTURN's default SQLite database if one exists (the first of " + string.Join(", ", TurnUserDatabase.DefaultSqliteFiles) + "), as coTURN does");
                wantsDefaultUserDb = true;
            }

            if (useAuthSecret && secrets.Count == 0 && !database)
            {
                _warnings.Add("'use-auth-secret' is set but no 'static-auth-secret' or 'userdb'; secrets are read from coTURN's default SQLite database if one exists (the first of " + string.Join(", ", TurnUserDatabase.DefaultSqliteFiles) + "), as coTURN does");
                wantsDefaultUserDb = true;
            }
        }

        return (ltCredMech, useAuthSecret, noAuth, secrets, users, wantsDefaultUserDb);
    }

    private List<UserEntry> Users()
    {
        var users = new List<UserEntry>();
        foreach ((string value, string origin) in Items("user"))
        {
            if (!TurnValueParser.TryParseUser(value, out UserEntry? user, out string reason))
            {
                int colon = value.IndexOf(':', StringComparison.Ordinal);
                Invalid(origin, colon < 0 ? value : value[..(colon + 1)] + "***", "user", reason);
                continue;
            }

            int existing = users.FindIndex(u => u.Name == user.Name);
            if (existing < 0)
            {
                users.Add(user);
            }
            else
            {
                _warnings.Add($"{origin}: user '{user.Name}' is defined again; this entry replaces the earlier one");
                users[existing] = user;
            }
        }

        return users;
    }

    private int Facility()
    {
        string? value = Text("syslog-facility");
        if (value is null)
        {
            return Logging.SyslogSink.DefaultFacility;
        }

        if (Logging.SyslogSink.TryParseFacility(value, out int facility))
        {
            return facility;
        }

        // coTURN warns and keeps its default.
        _warnings.Add($"{Origin(Key("syslog-facility"))}: invalid value '{value}' for option 'syslog-facility' (LOG_USER, LOG_DAEMON, LOG_LOCAL0 ... LOG_LOCAL7); ignored, as coTURN does");
        return Logging.SyslogSink.DefaultFacility;
    }

    // software-attribute and no-software-attribute (prod) set one switch in coTURN: the one given last wins; neither means off.
    private bool NoSoftwareAttribute()
    {
        bool send = Boolean("software-attribute");
        bool dontSend = Boolean("no-software-attribute");
        return Latest("software-attribute", "no-software-attribute") switch
        {
            "software-attribute" => !send,
            "no-software-attribute" => dontSend,
            _ => true,
        };
    }

    // -K (keep-address-family) and -A (allocation-default-address-family) set one setting in coTURN: the one given last
    // wins, and -K with a false value changes nothing.
    private DefaultRelayFamily RelayFamily()
    {
        bool keep = Boolean("keep-address-family");
        string? value = Text("allocation-default-address-family");
        if (keep && Latest("keep-address-family", "allocation-default-address-family") == "keep-address-family")
        {
            return DefaultRelayFamily.Keep;
        }

        switch (value?.ToLowerInvariant())
        {
            case null or "ipv4":
                return DefaultRelayFamily.IPv4;
            case "ipv6":
                return DefaultRelayFamily.IPv6;
            case "keep":
                return DefaultRelayFamily.Keep;
            default:
                Invalid(Origin(Key("allocation-default-address-family")), value, "allocation-default-address-family", "use ipv4, ipv6 or keep");
                return DefaultRelayFamily.IPv4;
        }
    }

    private string? TimestampFormat()
    {
        string? strftime = Text("new-log-timestamp-format");
        if (!Boolean("new-log-timestamp"))
        {
            return null;
        }

        if (!Logging.LogTimestampFormat.TryConvert(strftime ?? Logging.LogTimestampFormat.CoturnDefault, out string format, out string? unsupported))
        {
            Invalid(Origin(Key("new-log-timestamp-format")), strftime!, "new-log-timestamp-format", $"the conversion '{unsupported}' is not supported (use %Y %m %d %H %M %S %F %T %z and the like)");
            return null;
        }

        return format;
    }

    // The value carries a password: errors name the option and the problem, never the value.
    private string? DatabaseConnection(string option, Func<string, IDisposable> open)
    {
        string? value = Text(option);
        if (value is null)
        {
            return null;
        }

        try
        {
            open(value).Dispose();
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            _errors.Add($"{Origin(Key(option))}: invalid value for option '{option}': {e.Message}");
        }

        return value;
    }

    // As coTURN's adjust_key_file_name: a relative name is looked for where coTURN looks for turnserver.conf (a name found
    // nowhere stays as given, so that loading it fails naming it), and without a cert or pkey line coTURN's default file
    // name is used when that search finds it.
    private string? KeyFile(string name, string? defaultFileName)
    {
        string? value = Text(name);
        if (value is not null)
        {
            return Path.IsPathRooted(value) ? value : _findFile(value) ?? value;
        }

        if (defaultFileName is null || _findFile(defaultFileName) is not { } found)
        {
            return null;
        }

        _warnings.Add($"option '{name}' is not given; using {found}, found where coTURN looks for its default {defaultFileName}");
        _keyFileByDefault = true;
        return found;
    }

    private IPAddress? OptionalAddress(string name)
    {
        string? value = Text(name);
        if (value is null)
        {
            return null;
        }

        string origin = Origin(Key(name));
        _hostFailure = null;
        if (TurnValueParser.TryParseIPAddress(value, LookupFor(origin, name), out IPAddress? address))
        {
            return address;
        }

        Invalid(origin, value, name, WithHostFailure(NotAnAddress));
        return null;
    }

    private string MetricsPath()
    {
        string? path = Text("prometheus-path");
        if (path is null)
        {
            return "/metrics";
        }

        if (!path.StartsWith('/') || path.Any(char.IsWhiteSpace))
        {
            Invalid(Origin(Key("prometheus-path")), path, "prometheus-path", "must be a URL path starting with '/'");
        }

        return path;
    }

    private List<IPAddress> Addresses(string name)
    {
        var addresses = new List<IPAddress>();
        foreach ((string value, string origin) in Items(name))
        {
            _hostFailure = null;
            if (!TurnValueParser.TryParseIPAddress(value, LookupFor(origin, name), out IPAddress? address))
            {
                Invalid(origin, value, name, WithHostFailure(NotAnAddress));
            }
            else if (addresses.Contains(address))
            {
                _warnings.Add($"{origin}: address {address} is already given for option '{name}'; ignored");
            }
            else
            {
                addresses.Add(address);
            }
        }

        return addresses;
    }

    private List<IPEndPoint> EndPoints(string name, int defaultPort) =>
        List(name, "not an address ('ip', 'ip:port' or '[ipv6]:port', or a host name for ip)", (string s, HostLookup lookup, out IPEndPoint e) =>
        {
            bool ok = TurnValueParser.TryParseEndPoint(s, defaultPort, lookup, out IPEndPoint? parsed);
            e = parsed!;
            return ok;
        });

    private delegate bool TryParse<T>(string text, HostLookup lookup, out T value);

    private List<T> List<T>(string name, string reason, TryParse<T> parse)
    {
        var values = new List<T>();
        foreach ((string value, string origin) in Items(name))
        {
            _hostFailure = null;
            if (parse(value, LookupFor(origin, name), out T parsed))
            {
                values.Add(parsed);
            }
            else
            {
                Invalid(origin, value, name, WithHostFailure(reason));
            }
        }

        return values;
    }

    // An empty item is an error, not skipped: an address, user or secret the configuration relied on is missing, and
    // going on without it could open the relay (static-auth-secret) or listen where it was not meant to (listening-ip).
    private IEnumerable<(string Value, string Origin)> Items(string name)
    {
        string key = Key(name);
        foreach (IConfigurationSection item in _configuration.GetSection(key).GetChildren())
        {
            string origin = Origin(key + ConfigurationPath.KeyDelimiter + item.Key);
            if (string.IsNullOrEmpty(item.Value))
            {
                RequiresValue(origin, name);
            }
            else
            {
                yield return (item.Value, origin);
            }
        }
    }

    // As coTURN's make_ioa_addr, which falls back to getaddrinfo: a host name given for an address stands for its first
    // IPv4 address, else its first IPv6 one, looked up now (again on SIGHUP), so the choice is logged.
    private HostLookup LookupFor(string origin, string name) => host =>
    {
        IPAddress[] addresses;
        try
        {
            addresses = _resolveHost(host);
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            _hostFailure = $"host name '{host}' does not resolve: {e.Message}";
            return null;
        }

        IPAddress? address = Array.Find(addresses, a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? Array.Find(addresses, a => a.AddressFamily == AddressFamily.InterNetworkV6);
        if (address is null)
        {
            _hostFailure = $"host name '{host}' has no IPv4 or IPv6 address";
            return null;
        }

        _warnings.Add($"{origin}: option '{name}': host name '{host}' resolved to {address} (of {string.Join(", ", addresses.Select(a => a.ToString()))}: the first IPv4 address, else the first IPv6 one, as coTURN takes it)");
        return address;
    };

    private string WithHostFailure(string reason) => _hostFailure is null ? reason : $"{reason}; {_hostFailure}";

    private bool Boolean(string name)
    {
        if (!TryGet(name, out string value, out string origin))
        {
            return false;
        }

        if (TurnValueParser.TryParseBoolean(value, out bool result))
        {
            return result;
        }

        // coTURN never reads these flags' values, so a value it could not read as a boolean does not stop it either.
        if (FlagsCoturnSetsWhateverTheValue.Contains(name))
        {
            _warnings.Add($"{origin}: option '{name}' is on: its value '{value}' is not a boolean, and coTURN turns this option on whatever its value");
            return true;
        }

        Invalid(origin, value, name, BooleanRule);
        return false;
    }

    // Options with an optional value (stale-nonce, the lifetimes) take the default when given bare, as coTURN's
    // get_int_value does; an empty required value never gets here (TurnOption.EmptyMeansNotGiven).
    private int Integer(string name, int fallback)
    {
        if (!TryGet(name, out string value, out string origin) || value.Length == 0)
        {
            return fallback;
        }

        TurnOption option = Option(name);
        if (!TurnValueParser.TryParseInteger(WithoutTrailingNote(name, value, origin), out long result))
        {
            Invalid(origin, value, name, "not an integer");
        }
        else if (result < option.Minimum || result > option.Maximum)
        {
            Invalid(origin, value, name, option.Maximum == int.MaxValue
                ? $"must be at least {option.Minimum}"
                : $"must be between {option.Minimum} and {option.Maximum}");
        }
        else
        {
            return (int)result;
        }

        return fallback;
    }

    // As Integer: a bare optional port (prometheus-port) is the default.
    private int Port(string name, int fallback)
    {
        if (!TryGet(name, out string value, out string origin) || value.Length == 0)
        {
            return fallback;
        }

        if (TurnValueParser.TryParsePort(WithoutTrailingNote(name, value, origin), out int port))
        {
            return port;
        }

        Invalid(origin, value, name, "not a port number (0-65535)");
        return fallback;
    }

    // coTURN reads numbers with atoi or strtoul, which stop at the first non-digit, and only warns about a line ending
    // in ';': "3478;" and "3478 # udp" are 3478 there, so they load here as well, with a warning. Other text after a
    // number ("3478abc") stays an error, since nothing says what was meant.
    private string WithoutTrailingNote(string name, string value, string origin)
    {
        if (!TurnValueParser.TrySplitTrailingNote(value, out string number, out string note))
        {
            return value;
        }

        _warnings.Add($"{origin}: option '{name}' is read as {number}; the '{note}' after it is ignored, as coTURN ignores it");
        return number;
    }

    // A network interface for SO_BINDTODEVICE: checked against this machine's interfaces, so a typo fails start-up.
    private string? Device(string name)
    {
        string? value = Text(name);
        if (value is not null && Net.NetworkDevice.Check(value) is { } reason)
        {
            Invalid(Origin(Key(name)), value, name, reason);
            return null;
        }

        return value;
    }

    private char Character(string name, char fallback)
    {
        string? value = Text(name);
        if (value is null)
        {
            return fallback;
        }

        if (value.Length == 1)
        {
            return value[0];
        }

        Invalid(Origin(Key(name)), value, name, "must be a single character");
        return fallback;
    }

    // An empty required value gets here only where it must not be ignored (addresses, devices, proc-user: see
    // TurnOption.EmptyMeansNotGiven); an optional one (prometheus-address) given bare means "not set".
    private string? Text(string name)
    {
        if (!TryGet(name, out string value, out string origin))
        {
            return null;
        }

        if (value.Length == 0)
        {
            if (Option(name).Argument == TurnOptionArgument.Required)
            {
                RequiresValue(origin, name);
            }

            return null;
        }

        return value;
    }

    private bool TryGet(string name, out string value, out string origin)
    {
        string key = Key(name);
        string? raw = _configuration[key];
        value = raw ?? "";
        origin = raw is null ? "" : Origin(key);
        return raw is not null;
    }

    private bool Present(string name)
    {
        string key = Key(name);
        return _configuration[key] is not null || _configuration.GetSection(key).GetChildren().Any();
    }

    // Where the option's value was given in reading order (file, environment, command line); -1 when unknown.
    private int Position(string name) => _positions.GetValueOrDefault(Key(name), -1);

    // Of the given options among names, the one given last; null when none is.
    private string? Latest(params string[] names) => names.Where(Present).MaxBy(Position);

    private void Exclusive(bool conflict, string first, string second, string why)
    {
        if (conflict)
        {
            _errors.Add($"{OriginsOf(first, second)}: options '{first}' and '{second}' cannot be used together: {why}");
        }
    }

    private void Invalid(string origin, string value, string name, string reason) =>
        _errors.Add($"{origin}: invalid value '{value}' for option '{name}': {reason}");

    private void RequiresValue(string origin, string name) =>
        _errors.Add($"{origin}: option '{name}' requires a value");

    /// <summary>Where the named options were given, for messages about them together: "turnserver.conf:3, command line (-z)".</summary>
    private string OriginsOf(params string[] names)
    {
        var origins = new List<string>();
        foreach (string name in names)
        {
            string key = Key(name);
            origins.AddRange(_origins.Where(o => o.Key.Equals(key, StringComparison.OrdinalIgnoreCase)
                    || o.Key.StartsWith(key + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase))
                .OrderBy(o => o.Key.Length).ThenBy(o => o.Key, StringComparer.Ordinal)
                .Select(o => o.Value));
        }

        return origins.Count == 0 ? "configuration" : string.Join(", ", origins.Distinct());
    }

    private string Origin(string key) => _origins.TryGetValue(key, out string? origin) ? origin : "configuration";

    private static TurnOption Option(string name) =>
        TurnOptionTable.TryFindByName(name, out TurnOption? option) ? option : throw new ArgumentException("Unknown option " + name, nameof(name));

    private static string Key(string name) => Option(name).ConfigurationKey!;
}
