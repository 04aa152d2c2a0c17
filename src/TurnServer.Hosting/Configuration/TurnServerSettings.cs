using System.Net;
using TurnServer.Core;
using TurnServer.Core.Peers;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// The validated server configuration, one property per option TurnServer supports. Built by <see cref="TurnServerConfigLoader.Load(IReadOnlyList{string}, IDictionary{string, string}, Func{IEnumerable{string}})"/>;
/// defaults are coTURN's. Times are in seconds, ports are port numbers.
/// </summary>
public sealed class TurnServerSettings
{
    /// <summary>The turnserver.conf actually read, or null when none was (<c>-n</c>, or none found).</summary>
    public string? ConfigFilePath { get; init; }

    /// <summary><c>listening-port</c>: UDP and TCP listener port.</summary>
    public int ListeningPort { get; init; } = TurnOptionTable.DefaultPort;

    /// <summary><c>tls-listening-port</c>: TLS and DTLS listener port.</summary>
    public int TlsListeningPort { get; init; } = TurnOptionTable.DefaultTlsPort;

    /// <summary><c>alt-listening-port</c>: RFC 5780 alternative UDP port; 0 means <see cref="ListeningPort"/> + 1.</summary>
    public int AltListeningPort { get; init; }

    /// <summary><c>alt-tls-listening-port</c>: alternative TLS/DTLS port; 0 means <see cref="TlsListeningPort"/> + 1.</summary>
    public int AltTlsListeningPort { get; init; }

    /// <summary>
    /// <c>tcp-proxy-port</c>: a TCP port on each listening IP for connections forwarded by a load balancer that sends a
    /// PROXY protocol version 2 header first; null when not set.
    /// </summary>
    public int? TcpProxyPort { get; init; }

    /// <summary><c>listening-ip</c>: addresses to listen on, duplicates removed; empty means all local addresses.</summary>
    public IReadOnlyList<IPAddress> ListeningIps { get; init; } = [];

    /// <summary>
    /// <c>listening-device</c> (<c>-d</c>): the network interface every listener socket is tied to (SO_BINDTODEVICE,
    /// Linux), or null.
    /// </summary>
    public string? ListeningDevice { get; init; }

    /// <summary><c>relay-device</c> (<c>-i</c>): the network interface every relay socket is tied to, or null.</summary>
    public string? RelayDevice { get; init; }

    /// <summary><c>relay-ip</c>: local addresses for relay endpoints, duplicates removed; empty means coTURN's default choice.</summary>
    public IReadOnlyList<IPAddress> RelayIps { get; init; } = [];

    /// <summary><c>external-ip</c>: public addresses behind NAT; at most one entry has no private address.</summary>
    public IReadOnlyList<ExternalIpMapping> ExternalIps { get; init; } = [];

    /// <summary><c>min-port</c>: lowest relay port.</summary>
    public int MinPort { get; init; } = 49152;

    /// <summary><c>max-port</c>: highest relay port, at least <see cref="MinPort"/>.</summary>
    public int MaxPort { get; init; } = 65535;

    /// <summary><c>realm</c>: the default realm; when not given, the system's domain name as coTURN takes it, or empty.</summary>
    public string Realm { get; init; } = "";

    /// <summary><c>server-name</c>: server name for oAuth; null when not given (coTURN then uses the realm).</summary>
    public string? ServerName { get; init; }

    /// <summary>
    /// True when the long-term credential mechanism is in force: given as <c>lt-cred-mech</c>, or implied, as coTURN
    /// does, by <c>use-auth-secret</c>, <c>static-auth-secret</c> or <c>user</c> entries. Exactly one of this and
    /// <see cref="NoAuth"/> is true.
    /// </summary>
    public bool LtCredMech { get; init; }

    /// <summary><c>use-auth-secret</c>: TURN REST API time-limited credentials; implied by <c>static-auth-secret</c>.</summary>
    public bool UseAuthSecret { get; init; }

    /// <summary><c>static-auth-secret</c>: shared secrets for the TURN REST API, in the order given.</summary>
    public IReadOnlyList<string> StaticAuthSecrets { get; init; } = [];

    /// <summary><c>rest-api-separator</c>: separator between expiry timestamp and user name in REST API user names.</summary>
    public char RestApiSeparator { get; init; } = ':';

    /// <summary>
    /// <c>user</c>: static accounts, one per name (a later entry for the same name replaces the earlier). Empty when
    /// <see cref="UseAuthSecret"/> or <see cref="NoAuth"/> is set, because coTURN ignores static accounts then.
    /// </summary>
    public IReadOnlyList<UserEntry> Users { get; init; } = [];

    /// <summary>
    /// True when anonymous access is allowed: given as <c>no-auth</c>, or, as coTURN does, when no credential
    /// mechanism is configured at all (the loader warns about that).
    /// </summary>
    public bool NoAuth { get; init; }

    /// <summary><c>fingerprint</c>: add FINGERPRINT to responses.</summary>
    public bool Fingerprint { get; init; }

    /// <summary><c>stale-nonce</c>: nonce lifetime in seconds; 0 means nonces never expire. coTURN's default is 600, with or without the option.</summary>
    public int StaleNonce { get; init; } = 600;

    /// <summary><c>max-allocate-lifetime</c>: longest allocation lifetime a client may request, in seconds.</summary>
    public int MaxAllocateLifetime { get; init; } = 3600;

    /// <summary><c>max-allocate-timeout</c>: seconds a TCP or TLS connection, or a DTLS session, may stay open without an allocation; default 60.</summary>
    public int MaxAllocateTimeout { get; init; } = 60;

    /// <summary><c>channel-lifetime</c>: channel binding lifetime in seconds.</summary>
    public int ChannelLifetime { get; init; } = 600;

    /// <summary><c>permission-lifetime</c>: permission lifetime in seconds.</summary>
    public int PermissionLifetime { get; init; } = 300;

    /// <summary><c>user-quota</c>: concurrent allocations per user; 0 means unlimited.</summary>
    public int UserQuota { get; init; }

    /// <summary><c>total-quota</c>: concurrent allocations for the server; 0 means unlimited.</summary>
    public int TotalQuota { get; init; }

    /// <summary><c>acme-redirect</c>: where ACME HTTP-01 challenges reaching a TURN TCP port are redirected (URL + token); null: not.</summary>
    public string? AcmeRedirect { get; init; }

    /// <summary><c>respond-http-unsupported</c>: answer other HTTP requests on TURN TCP/TLS ports with 400 rather than closing.</summary>
    public bool RespondHttpUnsupported { get; init; }

    /// <summary><c>no-dynamic-ip-list</c>: ignore the user database's <c>allowed_peer_ip</c> and <c>denied_peer_ip</c>.</summary>
    public bool NoDynamicIpList { get; init; }

    /// <summary><c>no-dynamic-realms</c>: ignore the user database's realm options (<c>turn_realm_option</c>).</summary>
    public bool NoDynamicRealms { get; init; }

    /// <summary><c>max-bps</c>: relayed bytes per second one allocation may carry each way; 0 means unlimited.</summary>
    public int MaxBps { get; init; }

    /// <summary><c>bps-capacity</c>: bytes per second granted to all allocations together (with <c>max-bps</c>); 0 means unlimited.</summary>
    public int BpsCapacity { get; init; }

    /// <summary><c>denied-peer-ip</c>: peer address ranges refused.</summary>
    public IReadOnlyList<IPAddressRange> DeniedPeerIps { get; init; } = [];

    /// <summary><c>allowed-peer-ip</c>: peer address ranges allowed even when denied otherwise.</summary>
    public IReadOnlyList<IPAddressRange> AllowedPeerIps { get; init; } = [];

    /// <summary><c>allow-loopback-peers</c>: allow peers on 127.0.0.0/8 and ::1.</summary>
    public bool AllowLoopbackPeers { get; init; }

    /// <summary><c>no-multicast-peers</c>: refuse peers on multicast and broadcast addresses.</summary>
    public bool NoMulticastPeers { get; init; }

    /// <summary>
    /// <c>allocation-default-address-family</c> (<c>ipv4</c>, <c>ipv6</c>, <c>keep</c>; <c>keep-address-family</c> means
    /// <c>keep</c>): the relay family for an Allocate that names none.
    /// </summary>
    public DefaultRelayFamily DefaultRelayFamily { get; init; }

    /// <summary>
    /// <c>rfc5780</c> and not <c>no-rfc5780</c>: RFC 5780 NAT behaviour discovery where two listening IPs of a family
    /// allow it. Off by default, as in coTURN 4.7 (coTURN 4.6 turned it on by itself with two such IPs).
    /// </summary>
    public bool Rfc5780 { get; init; }

    /// <summary><c>no-udp</c>: start no UDP client listeners.</summary>
    public bool NoUdp { get; init; }

    /// <summary><c>no-tcp</c>: start no TCP client listeners.</summary>
    public bool NoTcp { get; init; }

    /// <summary><c>no-tls</c>: start no TLS client listeners.</summary>
    public bool NoTls { get; init; }

    /// <summary><c>no-dtls</c>: start no DTLS client listeners.</summary>
    public bool NoDtls { get; init; }

    /// <summary><c>no-udp-relay</c>: refuse UDP relay allocations.</summary>
    public bool NoUdpRelay { get; init; }

    /// <summary><c>no-tcp-relay</c>: refuse TCP relay allocations (RFC 6062).</summary>
    public bool NoTcpRelay { get; init; }

    /// <summary>
    /// Send no SOFTWARE attribute: the default, as in coTURN 4.7; <c>software-attribute</c> turns it on unless
    /// <c>no-software-attribute</c> is given too.
    /// </summary>
    public bool NoSoftwareAttribute { get; init; } = true;

    /// <summary><c>log-file</c>: log file path, or coTURN's special names <c>stdout</c>, <c>-</c>, <c>syslog</c>; null for the default.</summary>
    public string? LogFile { get; init; }

    /// <summary><c>no-stdout-log</c>: do not also log to stdout.</summary>
    public bool NoStdoutLog { get; init; }

    /// <summary><c>syslog</c> (or <c>log-file=syslog</c>): log to the local syslog socket instead of a file.</summary>
    public bool Syslog { get; init; }

    /// <summary><c>syslog-facility</c>: the syslog facility code (syslog.h: LOG_USER is 1, LOG_LOCAL0 is 16).</summary>
    public int SyslogFacility { get; init; } = 1;

    /// <summary>
    /// The .NET format of log timestamps: from <c>new-log-timestamp-format</c> (strftime) with <c>new-log-timestamp</c>,
    /// local time; null for the default (UTC, <c>yyyy-MM-dd HH:mm:ss</c>).
    /// </summary>
    public string? LogTimestampFormat { get; init; }

    /// <summary><c>simple-log</c>: use the log file name as given, without PID, date or rollover.</summary>
    public bool SimpleLog { get; init; }

    /// <summary><c>verbose</c> (<c>-v</c>): moderate verbose logging.</summary>
    public bool Verbose { get; init; }

    /// <summary><c>Verbose</c> (<c>-V</c>): extra verbose logging.</summary>
    public bool ExtraVerbose { get; init; }

    /// <summary>
    /// <c>pidfile</c>: where to write the process ID; null when not given, except with <see cref="Daemon"/>, where
    /// coTURN's default applies (init scripts find the process by it).
    /// </summary>
    public string? PidFile { get; init; }

    /// <summary><c>daemon</c> (<c>-o</c>): run in the background once the listeners are bound.</summary>
    public bool Daemon { get; init; }

    /// <summary><c>proc-user</c>: the user ID to run as once the listeners are bound; null to keep the current one.</summary>
    public uint? ProcUserId { get; init; }

    /// <summary>
    /// <c>proc-group</c>, else the primary group of <c>proc-user</c>: the group ID to run as once the listeners are
    /// bound; null to keep the current one.
    /// </summary>
    public uint? ProcGroupId { get; init; }

    /// <summary><c>drain-min-allocations</c>: a drain (SIGUSR1) ends the process once at most this many allocations remain.</summary>
    public int DrainMinAllocations { get; init; }

    /// <summary><c>drain-timeout</c>: seconds a drain may last before the process ends anyway; 0 for no limit.</summary>
    public int DrainTimeout { get; init; }

    /// <summary><c>cert</c>: TLS certificate chain, PEM; null when not given (coTURN then looks for turn_server_cert.pem).</summary>
    public string? Cert { get; init; }

    /// <summary><c>pkey</c>: TLS private key, PEM; null when not given (coTURN then looks for turn_server_pkey.pem).</summary>
    public string? PKey { get; init; }

    /// <summary>
    /// <see cref="Cert"/> or <see cref="PKey"/> is coTURN's default file name, found by the search rather than named:
    /// if the pair cannot be used, TLS and DTLS are off with a warning, as in coTURN, rather than start-up failing.
    /// </summary>
    public bool KeyFilesByDefault { get; init; }

    /// <summary><c>pkey-pwd</c>: password of an encrypted private key.</summary>
    public string? PKeyPassword { get; init; }

    /// <summary><c>CA-file</c>: PEM certificate authorities that TLS and DTLS client certificates must chain to; null: none asked for.</summary>
    public string? CaFile { get; init; }

    /// <summary><c>cipher-list</c>: OpenSSL-style cipher list; null for the default.</summary>
    public string? CipherList { get; init; }

    /// <summary><c>no-tlsv1</c>: refuse TLS 1.0.</summary>
    public bool NoTlsV1 { get; init; }

    /// <summary><c>no-tlsv1_1</c>: refuse TLS 1.1.</summary>
    public bool NoTlsV1_1 { get; init; }

    /// <summary><c>no-tlsv1_2</c>: refuse TLS 1.2.</summary>
    public bool NoTlsV1_2 { get; init; }

    /// <summary><c>server-relay</c>: peers reach clients without permissions (non-standard, dangerous).</summary>
    public bool ServerRelay { get; init; }

    /// <summary><c>oauth</c>: take RFC 7635 access tokens, with keys from the user database's <c>oauth_key</c>.</summary>
    public bool OAuth { get; init; }

    /// <summary><c>check-origin-consistency</c>: requests on an allocation must keep its Allocate's ORIGIN.</summary>
    public bool CheckOriginConsistency { get; init; }

    /// <summary><c>mobility</c>: offer RFC 8016 mobility tickets.</summary>
    public bool Mobility { get; init; }

    /// <summary><c>secure-stun</c>: require authentication of Binding requests.</summary>
    public bool SecureStun { get; init; }

    /// <summary><c>stun-only</c>: answer STUN only and ignore TURN requests.</summary>
    public bool StunOnly { get; init; }

    /// <summary><c>no-stun</c>: answer TURN only and ignore Binding requests.</summary>
    public bool NoStun { get; init; }

    /// <summary><c>relay-threads</c>: relay thread count, 0..128 (0: single-threaded); null for the default (number of CPUs).</summary>
    public int? RelayThreads { get; init; }

    /// <summary><c>log-binding</c>: log Binding requests.</summary>
    public bool LogBinding { get; init; }

    /// <summary><c>alternate-server</c>: ALTERNATE-SERVER targets for UDP/TCP allocations (port 3478 when not given).</summary>
    public IReadOnlyList<IPEndPoint> AlternateServers { get; init; } = [];

    /// <summary>
    /// <c>aux-server</c>: more listening endpoints (<c>ip:port</c>, port 3478 when not given; a wildcard IP stands for
    /// every interface address of its family), each served over UDP and TCP (and TLS and DTLS with a certificate) like
    /// the main ones, but never answering 300 Try Alternate and without RFC 5780.
    /// </summary>
    public IReadOnlyList<IPEndPoint> AuxServers { get; init; } = [];

    /// <summary><c>udp-self-balance</c>: UDP Allocates on the main ports are sent to the <c>aux-server</c> addresses in turn.</summary>
    public bool UdpSelfBalance { get; init; }

    /// <summary><c>tls-alternate-server</c>: ALTERNATE-SERVER targets for TLS/DTLS allocations (port 5349 when not given, as coTURN does).</summary>
    public IReadOnlyList<IPEndPoint> TlsAlternateServers { get; init; } = [];

    /// <summary><c>no-cli</c>: no telnet CLI even with a <c>cli-password</c>.</summary>
    public bool NoCli { get; init; }

    /// <summary><c>cli-ip</c>: the telnet CLI's listening address.</summary>
    public IPAddress CliIp { get; init; } = IPAddress.Loopback;

    /// <summary><c>cli-port</c>: the telnet CLI's TCP port (0: any free port, for tests).</summary>
    public int CliPort { get; init; } = 5766;

    /// <summary><c>web-admin</c>: serve the HTTPS web admin interface (with <c>cert</c>, <c>pkey</c> and a user database).</summary>
    public bool WebAdmin { get; init; }

    /// <summary><c>web-admin-ip</c>: the web admin's listening address.</summary>
    public IPAddress WebAdminIp { get; init; } = IPAddress.Loopback;

    /// <summary><c>web-admin-port</c>: the web admin's TCP port (0: any free port, for tests).</summary>
    public int WebAdminPort { get; init; } = 8080;

    /// <summary><c>cli-password</c>: the CLI password, plain or in <c>turnadmin -P</c> form; the CLI is off without one.</summary>
    public string? CliPassword { get; init; }

    /// <summary><c>cli-max-output-sessions</c>: most sessions the CLI's <c>ps</c> prints.</summary>
    public int CliMaxOutputSessions { get; init; } = 256;

    /// <summary><c>prometheus</c>: serve Prometheus metrics (and <c>/healthz</c>) over HTTP.</summary>
    public bool Prometheus { get; init; }

    /// <summary><c>prometheus-port</c>: metrics HTTP port (TCP).</summary>
    public int PrometheusPort { get; init; } = 9641;

    /// <summary><c>prometheus-address</c>: metrics listening address; null for every address (IPv4 and IPv6).</summary>
    public IPAddress? PrometheusAddress { get; init; }

    /// <summary><c>prometheus-path</c>: path of the metrics page, starting with <c>/</c>.</summary>
    public string PrometheusPath { get; init; } = "/metrics";

    /// <summary><c>prometheus-username-labels</c>: label the per-realm traffic metrics with user names as well.</summary>
    public bool PrometheusUsernameLabels { get; init; }

    /// <summary><c>userdb</c>: SQLite user database file in coTURN's schema; null when not given or when another database option was given after it.</summary>
    public string? UserDb { get; init; }

    /// <summary><c>psql-userdb</c>: PostgreSQL connection string (libpq form) of a database in coTURN's schema; null when not given or when another database option was given after it.</summary>
    public string? PsqlUserDb { get; init; }

    /// <summary>
    /// <c>redis-userdb</c>: Redis connection string in coTURN's form (<c>ip=... port=... dbname=... password=...</c>) of a
    /// database in coTURN's key layout; null when not given or when another database option was given after it.
    /// </summary>
    public string? RedisUserDb { get; init; }

    /// <summary>
    /// <c>redis-statsdb</c>: Redis connection string in coTURN's form of the database that allocation statuses are kept
    /// in and allocation events published to (coTURN's schema.stats.redis); null when not given.
    /// </summary>
    public string? RedisStatsDb { get; init; }

    /// <summary>
    /// True when long-term credentials are on but neither users, secrets nor a database are configured: coTURN then
    /// reads its default SQLite turndb, and so does TurnServer when that file exists.
    /// </summary>
    public bool WantsDefaultUserDb { get; init; }
}
