using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using System.Globalization;
using Serilog;
using Serilog.Formatting.Display;
using ILogger = Microsoft.Extensions.Logging.ILogger;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Cli;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Lifecycle;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Metrics;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Services;
using TurnServer.Hosting.Tcp;
using TurnServer.Hosting.Tls;
using TurnServer.Hosting.Udp;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Hosting.UserDb;
using TurnServer.Hosting.WebAdmin;
using TurnServer.UserDb;

namespace TurnServer.Hosting;

/// <summary>
/// Builds the server's generic host from validated settings: the protocol engine, one hosted service per listener,
/// the sweeper, the pidfile, and logging to stdout and/or <c>log-file</c>. SIGTERM and SIGINT stop it cleanly
/// (sockets closed, allocations deleted, ports returned) through the host's console lifetime.
/// </summary>
public static partial class TurnServerHostFactory
{
    /// <summary>Creates the host. Nothing is bound until it starts.</summary>
    /// <param name="settings">Validated settings.</param>
    /// <param name="configureLogging">Extra logging setup (tests add their own sink).</param>
    /// <param name="time">The clock; defaults to the system clock.</param>
    /// <param name="configureServices">Extra services, e.g. more <see cref="IAllocationObserver"/>s.</param>
    /// <param name="reloadConfiguration">
    /// Reads the configuration again as the process was started, for SIGHUP; null when there is nothing to re-read
    /// (SIGHUP then only reopens the log file and reloads the certificate).
    /// </param>
    public static IHost Create(
        TurnServerSettings settings,
        Action<ILoggingBuilder>? configureLogging = null,
        TimeProvider? time = null,
        Action<IServiceCollection>? configureServices = null,
        Func<TurnServerConfigLoadResult>? reloadConfiguration = null) =>
        Create(settings, UdpEngineSelection.UseLinuxEngine, configureLogging, time, configureServices, reloadConfiguration);

    /// <summary>Creates the host with the Linux UDP engine or the portable one (tests run both).</summary>
    internal static IHost Create(
        TurnServerSettings settings,
        bool linuxUdp,
        Action<ILoggingBuilder>? configureLogging = null,
        TimeProvider? time = null,
        Action<IServiceCollection>? configureServices = null,
        Func<TurnServerConfigLoadResult>? reloadConfiguration = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        time ??= TimeProvider.System;
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var logFiles = new LogFiles();
        builder.Services.AddSingleton(logFiles);
        ConfigureLogging(builder.Logging, settings, logFiles);
        configureLogging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(settings);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

        IReadOnlyList<IPAddress> listeningIps = ListeningAddresses.Resolve(settings.ListeningIps);
        NatBehaviorDiscovery? natDiscovery = CreateNatDiscovery(settings, listeningIps);
        IReadOnlyList<IPEndPoint> auxServers = ListeningAddresses.ResolveEndPoints(settings.AuxServers);
        builder.Services.AddSingleton<IAllocationObserver>(sp => new SessionLog(sp.GetRequiredService<ILogger<SessionLog>>(), settings.Realm));
        builder.Services.AddSingleton<ConnectionSetupCounters>();
        builder.Services.AddSingleton(sp => DescriptorBudget.ForThisProcess(sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Descriptors")));
        builder.Services.AddSingleton(sp =>
        {
            var metrics = new TurnMetrics(settings.Realm, settings.PrometheusUsernameLabels, time);
            metrics.Meter.CreateObservableCounter("turnserver_log_events_dropped_total", () => logFiles.DroppedEvents, description: "Log lines dropped because the log file or syslog writer fell behind or the log file could not be opened");
            DescriptorBudget descriptors = sp.GetRequiredService<DescriptorBudget>();
            metrics.Meter.CreateObservableGauge("turnserver_client_descriptors", () => descriptors.InUse, description: "Descriptors held by client connections and relay sockets");
            metrics.Meter.CreateObservableGauge("turnserver_client_descriptors_limit", () => descriptors.Capacity, description: "Descriptors client connections and relay sockets may hold: the open files limit less what the server keeps for itself");
            metrics.Meter.CreateObservableCounter("turnserver_client_descriptors_refused_total", () => descriptors.Refused, description: "Connections closed on accept and relays refused because client descriptors ran out");
            metrics.Meter.CreateObservableCounter("turnserver_client_connections_refused_per_address_total", () => descriptors.RefusedPerAddress, description: "TCP and TLS connections closed on accept, or once a PROXY header named their client, because their address (IPv6: its /64) held a quarter of the client descriptors");
            ConnectionSetupCounters setups = sp.GetRequiredService<ConnectionSetupCounters>();
            metrics.Meter.CreateObservableCounter("turnserver_tls_handshakes_started_total", () => setups.HandshakesStarted, description: "TLS handshakes begun on the TCP and TLS ports");
            metrics.Meter.CreateObservableCounter("turnserver_tls_handshakes_completed_total", () => setups.HandshakesCompleted, description: "TLS handshakes finished on the TCP and TLS ports");
            metrics.Meter.CreateObservableCounter("turnserver_connection_setup_failures_total", () => SetupFailuresByReason(setups), description: "TCP and TLS connections that ended before their first message could be read, by reason");
            return metrics;
        });
        if (settings.Prometheus)
        {
            builder.Services.AddSingleton<IAllocationObserver>(sp => sp.GetRequiredService<TurnMetrics>());
        }
        if (settings.RedisStatsDb is { } statsDb)
        {
            // Registered before the listeners and the sweeper, so it stops after them and still writes the deletions of shutdown.
            builder.Services.AddSingleton(sp =>
            {
                var publisher = new RedisStatsPublisher(RedisStatsDatabase.Open(statsDb), settings.Realm, time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.StatsDb"));
                if (settings.Prometheus)
                {
                    publisher.AddMetrics(sp.GetRequiredService<TurnMetrics>());
                }

                return publisher;
            });
            builder.Services.AddSingleton<IAllocationObserver>(sp => sp.GetRequiredService<RedisStatsPublisher>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisStatsPublisher>());
        }

        builder.Services.AddSingleton<ServerCounters>();
        builder.Services.AddSingleton(sp => new ServerFailure(sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer")));
        if (linuxUdp)
        {
            // Registered before the listeners, so it starts before them and stops after them (closing every socket).
            builder.Services.AddSingleton(sp => new LinuxUdpEngine(
                sp.GetRequiredService<ServerCounters>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Udp"),
                UdpEngineSelection.Workers > 0 ? UdpEngineSelection.Workers : settings.RelayThreads switch { null => 0, 0 => 1, int n => n },
                sp.GetRequiredService<ServerFailure>().Report));
            builder.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<LinuxUdpEngine>());
        }

        TurnUserDatabase? userDatabase = OpenUserDatabase(settings);
        UserDatabaseCredentials? databaseUsers = userDatabase is null ? null : new UserDatabaseCredentials(settings.Realm);
        builder.Services.AddSingleton(sp => new EngineConfigurator(sp.GetRequiredService<TurnEngine>(), settings, databaseUsers, time));
        builder.Services.AddSingleton(sp =>
        {
            ServerCounters counters = sp.GetRequiredService<ServerCounters>();
            ILogger relayLogger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Relay");
            var engine = new TurnEngine(
                TurnOptionsFactory.CreateOptions(settings),
                new UdpRelayEndpointFactory(ListeningAddresses.RelayAddresses(settings.RelayIps), listeningIps, counters, relayLogger, sp.GetRequiredService<DescriptorBudget>(), linuxUdp ? sp.GetRequiredService<LinuxUdpEngine>() : null, settings.RelayDevice),
                TurnOptionsFactory.CreateCredentialSources(settings, time, () => settings.StaticAuthSecrets, databaseUsers),
                new CompositeAllocationObserver(sp.GetServices<IAllocationObserver>()),
                time,
                settings.MinPort,
                settings.MaxPort,
                counters);
            if (settings.Prometheus)
            {
                sp.GetRequiredService<TurnMetrics>().Attach(engine);
            }

            engine.NatDiscovery = natDiscovery;
            if (settings.ExtraVerbose || settings.LogBinding)
            {
                engine.RequestTrace = new RequestTraceLog(sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Requests"), bindingOnly: !settings.ExtraVerbose).Log;
            }

            return engine;
        });

        if (settings.Prometheus)
        {
            builder.Services.AddSingleton(sp => new PrometheusExporter(
                sp.GetRequiredService<TurnMetrics>().Meter,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Prometheus")));
            builder.Services.AddSingleton(sp => new MetricsHttpServer(
                settings.PrometheusAddress,
                settings.PrometheusPort,
                settings.PrometheusPath,
                sp.GetRequiredService<PrometheusExporter>(),
                sp.GetRequiredService<TurnEngine>(),
                sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsHttpServer>());
        }

        // coTURN 4.6 turns its telnet CLI on only with a password; so does this server.
        if (!settings.NoCli && settings.CliPassword is not null)
        {
            builder.Services.AddSingleton(sp => new CliServer(
                settings.CliIp,
                settings.CliPort,
                new CliContext(
                    sp.GetRequiredService<TurnEngine>(),
                    sp.GetRequiredService<EngineConfigurator>(),
                    logFiles,
                    sp.GetRequiredService<IHostApplicationLifetime>(),
                    time,
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Cli")),
                sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<CliServer>());
        }

        // Before the listeners, so the first packet already finds the database's users.
        if (userDatabase is not null)
        {
            builder.Services.AddSingleton(sp => new UserDatabaseRefresher(
                userDatabase,
                sp.GetRequiredService<EngineConfigurator>(),
                settings.Realm,
                settings.OAuth,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.UserDb"),
                time));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<UserDatabaseRefresher>());
        }

        TlsCertificateProvider? certificate = CreateTlsProvider(settings, time, out string? defaultFilesUnusable);
        TlsCertificateProvider? tls = settings.NoTls ? null : certificate;
        if (certificate is not null)
        {
            builder.Services.AddSingleton(certificate);
        }

        if (settings.WebAdmin && userDatabase is not null && certificate is not null)
        {
            builder.Services.AddSingleton(sp => new WebAdminServer(
                settings.WebAdminIp,
                settings.WebAdminPort,
                certificate,
                userDatabase,
                sp.GetRequiredService<TurnEngine>(),
                settings,
                time,
                sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<WebAdminServer>());
        }

        // DTLS offers version 1.2 only, so no-tlsv1_2 (which coTURN applies to DTLS too) leaves it nothing.
        DtlsCredentials? dtls = certificate is null || settings.NoDtls || settings.NoTlsV1_2 ? null : DtlsCredentials.Create(certificate, settings.Cert!);
        builder.Services.AddSingleton(_ => new DtlsLimits { AllocationTimeout = TimeSpan.FromSeconds(settings.MaxAllocateTimeout) });

        foreach (IPAddress ip in listeningIps)
        {
            AddPortListeners(builder.Services, new IPEndPoint(ip, settings.ListeningPort), settings, tls, dtls, time, linuxUdp);
            if (tls is not null)
            {
                AddTcpListener(builder.Services, new IPEndPoint(ip, settings.TlsListeningPort), TransportProtocol.Tls, plain: !settings.NoTcp, tls, settings, time);
            }

            if (dtls is not null)
            {
                AddUdpListener(builder.Services, new IPEndPoint(ip, settings.TlsListeningPort), TransportProtocol.Dtls, !settings.NoUdp, dtls, settings, time, linuxUdp);
            }

            if (settings.TcpProxyPort is { } proxyPort)
            {
                AddTcpListener(builder.Services, new IPEndPoint(ip, proxyPort), TransportProtocol.Tcp, plain: true, tls, settings, time, proxyProtocol: true);
            }

            if (natDiscovery is not null && natDiscovery.Addresses.Contains(ip))
            {
                AddUdpListener(builder.Services, new IPEndPoint(ip, natDiscovery.AlternatePort), TransportProtocol.Udp, plainUdp: true, dtls: null, settings, time, linuxUdp);
            }
        }

        foreach (IPEndPoint aux in auxServers)
        {
            AddPortListeners(builder.Services, aux, settings, tls, dtls, time, linuxUdp);
        }

        builder.Services.AddHostedService<SweeperService>();

        // After every listener above has bound its port: the pidfile (while still root, for /var/run) ...
        if (settings.PidFile is { Length: > 0 } pidFile)
        {
            builder.Services.AddHostedService(_ => new PidFileService(pidFile));
        }

        // ... then giving root up.
        if (settings.ProcUserId is not null || settings.ProcGroupId is not null)
        {
            builder.Services.AddHostedService(sp => new ProcessIdentityService(
                settings.ProcUserId,
                settings.ProcGroupId,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer")));
        }

        // Lifecycle: SIGHUP reload, SIGUSR1 drain, SIGUSR2 certificate reload (into the TLS listeners' provider), systemd.
        builder.Services.AddSingleton(sp => new ConfigurationReloader(
            reloadConfiguration ?? (() => new TurnServerConfigLoadResult { Settings = settings, Configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build() }),
            sp.GetRequiredService<EngineConfigurator>(),
            certificate,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Reload")));
        builder.Services.AddSingleton(sp => new DrainService(
            sp.GetRequiredService<TurnEngine>(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            settings.DrainMinAllocations,
            settings.DrainTimeout,
            time,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Drain")));
        builder.Services.AddSingleton(_ => SystemdNotifier.FromEnvironment());
        builder.Services.AddHostedService(sp =>
        {
            sp.GetRequiredService<ConfigurationReloader>().LogCertificate();
            return new SignalService(
                sp.GetRequiredService<ConfigurationReloader>(),
                sp.GetRequiredService<DrainService>(),
                logFiles,
                sp.GetRequiredService<SystemdNotifier>(),
                sp.GetRequiredService<IHostApplicationLifetime>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Signals"));
        });
        configureServices?.Invoke(builder.Services);
        IHost host = builder.Build();
        ILogger startup = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer");
        if (tls?.CipherNote is { } note)
        {
            LogTlsNote(startup, note);
        }
        else if (defaultFilesUnusable is not null)
        {
            LogDefaultKeyFilesUnusable(startup, defaultFilesUnusable);
        }
        else if (certificate is null && !(settings.NoTls && settings.NoDtls))
        {
            LogTlsDisabled(startup);
        }

        foreach (UserEntry user in settings.Users.Where(u => u.Password == SamplePassword))
        {
            LogSamplePassword(startup, user.Name);
        }

        return host;
    }

    /// <summary>
    /// The listeners of a <c>listening-port</c> (or <c>aux-server</c>) address, as in coTURN: TCP taking plain and,
    /// with a certificate, TLS connections (none with <c>no-tcp</c>); UDP taking plain datagrams (not with
    /// <c>no-udp</c>) and DTLS records (with a certificate).
    /// </summary>
    private static void AddPortListeners(IServiceCollection services, IPEndPoint endPoint, TurnServerSettings settings, TlsCertificateProvider? tls, DtlsCredentials? dtls, TimeProvider time, bool linuxUdp)
    {
        if (!settings.NoTcp)
        {
            AddTcpListener(services, endPoint, TransportProtocol.Tcp, plain: true, tls, settings, time);
        }

        if (!settings.NoUdp || dtls is not null)
        {
            AddUdpListener(services, endPoint, TransportProtocol.Udp, !settings.NoUdp, dtls, settings, time, linuxUdp);
        }
    }

    /// <summary>The failed connection setups of every TCP and TLS listener, one measurement per reason.</summary>
    private static IEnumerable<Measurement<long>> SetupFailuresByReason(ConnectionSetupCounters setups) =>
        Enum.GetValues<ConnectionSetupFailure>()
            .Select(r => new Measurement<long>(setups.Get(r), new KeyValuePair<string, object?>("reason", TurnMetrics.ReasonLabel(r))));

    /// <summary>
    /// Registers a TCP listener on <paramref name="endPoint"/> taking plain connections when <paramref name="plain"/>
    /// and TLS ones when <paramref name="tls"/> is given, told apart by their first byte; with
    /// <paramref name="proxyProtocol"/>, each behind a PROXY protocol version 2 header.
    /// </summary>
    private static void AddTcpListener(IServiceCollection services, IPEndPoint endPoint, TransportProtocol protocol, bool plain, TlsCertificateProvider? tls, TurnServerSettings settings, TimeProvider time, bool proxyProtocol = false) =>
        services.AddSingleton<IHostedService>(sp => new TcpListenerService(
            endPoint,
            protocol,
            plain,
            tls,
            sp.GetRequiredService<TurnEngine>(),
            TimeSpan.FromSeconds(settings.MaxAllocateTimeout),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(protocol == TransportProtocol.Tls ? "TurnServer.Tls" : "TurnServer.Tcp"),
            time,
            sp.GetRequiredService<DescriptorBudget>(),
            sp.GetRequiredService<ConnectionSetupCounters>(),
            proxyProtocol,
            new HttpOnTurnPort(settings.AcmeRedirect, settings.RespondHttpUnsupported),
            settings.ListeningDevice));

    /// <summary>
    /// Registers a UDP listener on <paramref name="endPoint"/>, with a DTLS endpoint of its own when
    /// <paramref name="dtls"/> is given (reported in the metrics with <c>prometheus</c>), tied to <c>listening-device</c> if set.
    /// </summary>
    private static void AddUdpListener(IServiceCollection services, IPEndPoint endPoint, TransportProtocol protocol, bool plainUdp, DtlsCredentials? dtls, TurnServerSettings settings, TimeProvider time, bool linuxUdp) =>
        services.AddSingleton<IHostedService>(sp =>
        {
            TurnEngine engine = sp.GetRequiredService<TurnEngine>();
            ILoggerFactory loggers = sp.GetRequiredService<ILoggerFactory>();
            DtlsEndpoint? endpoint = dtls is null ? null : new DtlsEndpoint(engine, dtls, sp.GetRequiredService<DtlsLimits>(), loggers.CreateLogger("TurnServer.Dtls"), time);
            if (endpoint is not null && settings.Prometheus)
            {
                sp.GetRequiredService<TurnMetrics>().Add(endpoint);
            }

            return new UdpListener(endPoint, protocol, plainUdp, endpoint, engine, loggers.CreateLogger("TurnServer.Udp"), linuxUdp ? sp.GetRequiredService<LinuxUdpEngine>() : null, settings.ListeningDevice);
        });

    /// <summary>
    /// RFC 5780 NAT behaviour discovery as coTURN 4.7 enables it: on plain UDP, with <c>rfc5780</c>, when two or more
    /// listening IPs of a family (loopback and not counted apart) give each an alternate, on <c>listening-port</c> and
    /// <c>alt-listening-port</c> (default <c>listening-port</c> + 1). Null when off.
    /// </summary>
    internal static NatBehaviorDiscovery? CreateNatDiscovery(TurnServerSettings settings, IReadOnlyList<IPAddress> listeningIps)
    {
        int port = settings.ListeningPort;
        int alternate = settings.AltListeningPort == 0 ? port + 1 : settings.AltListeningPort;
        if (!settings.Rfc5780 || settings.NoUdp || port == 0 || alternate > IPEndPoint.MaxPort || alternate == port)
        {
            return null;
        }

        var discovery = new NatBehaviorDiscovery(listeningIps, port, alternate, TurnOptionsFactory.ExternalAddresses(settings));
        return discovery.Addresses.Any() ? discovery : null;
    }

    /// <summary>
    /// The certificate TLS and DTLS share, when either is on and <c>cert</c> and <c>pkey</c> are set; null otherwise
    /// (TLS and DTLS listeners are then not started, as coTURN does without a certificate).
    /// A pair that includes coTURN's default file name, found rather than named, that cannot be used leaves them off
    /// too, as in coTURN, with the reason in <paramref name="defaultFilesUnusable"/>.
    /// </summary>
    /// <exception cref="TlsConfigurationException">The certificate or key named in the configuration cannot be used.</exception>
    private static TlsCertificateProvider? CreateTlsProvider(TurnServerSettings settings, TimeProvider time, out string? defaultFilesUnusable)
    {
        defaultFilesUnusable = null;
        if ((settings.NoTls && settings.NoDtls && !settings.WebAdmin) || settings.Cert is null || settings.PKey is null)
        {
            return null;
        }

        try
        {
            return TlsCertificateProvider.Load(settings, time);
        }
        catch (TlsConfigurationException e) when (settings.KeyFilesByDefault)
        {
            defaultFilesUnusable = e.Message;
            return null;
        }
    }

    /// <summary>The password of the demo user in the shipped conf/turnserver.conf, which anyone can read there.</summary>
    private const string SamplePassword = "change-me";

    [LoggerMessage(Level = LogLevel.Warning, Message = "User '{User}' has the password of the shipped sample config, which anyone can read: change it before clients outside this host can reach the server")]
    private static partial void LogSamplePassword(ILogger logger, string user);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Note}")]
    private static partial void LogTlsNote(ILogger logger, string note);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS and DTLS listeners are not started: set 'cert' and 'pkey' (PEM files) to enable them, or 'no-tls' and 'no-dtls' to silence this")]
    private static partial void LogTlsDisabled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS and DTLS listeners are not started: the default certificate files found cannot be used ({Reason}); set 'cert' and 'pkey' to usable PEM files")]
    private static partial void LogDefaultKeyFilesUnusable(ILogger logger, string reason);

    /// <summary>
    /// The user database the settings name: <c>psql-userdb</c>, <c>redis-userdb</c>, <c>userdb</c>, or coTURN's default SQLite file when
    /// long-term credentials have no other source and that file exists.
    /// </summary>
    internal static TurnUserDatabase? OpenUserDatabase(TurnServerSettings settings)
    {
        if (settings.NoAuth)
        {
            return null;
        }

        if (settings.PsqlUserDb is { } postgres)
        {
            return TurnUserDatabase.PostgreSql(postgres);
        }

        if (settings.RedisUserDb is { } redis)
        {
            return TurnUserDatabase.Redis(redis);
        }

        string? file = settings.UserDb ?? (settings.WantsDefaultUserDb ? TurnUserDatabase.DefaultSqliteFiles.FirstOrDefault(File.Exists) : null);
        return file is null ? null : TurnUserDatabase.Sqlite(file);
    }

    private static void ConfigureLogging(ILoggingBuilder logging, TurnServerSettings settings, LogFiles logFiles)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(settings.ExtraVerbose ? LogLevel.Trace : settings.Verbose ? LogLevel.Debug : LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        bool fileIsStdout = settings.LogFile is "stdout" or "-";
        if (!settings.NoStdoutLog || fileIsStdout)
        {
            // The console logger writes from its own thread too; a stdout nobody reads must not stall relaying either.
            logging.Services.Configure<ConsoleLoggerOptions>(o =>
            {
                o.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite;
                o.MaxQueueLength = LogFiles.QueueLength;
            });
            logging.AddConsole(o => o.FormatterName = EscapingConsoleFormatter.FormatterName);
            logging.Services.AddSingleton<ConsoleFormatter>(new EscapingConsoleFormatter((settings.LogTimestampFormat ?? DefaultTimestampFormat) + " ", utc: settings.LogTimestampFormat is null));
        }

        // UTC by default, as on stdout; new-log-timestamp's format is local time, as in coTURN.
        string timestamp = settings.LogTimestampFormat is null ? "{" + UtcTimestampEnricher.PropertyName + ":" + DefaultTimestampFormat + "}" : "{Timestamp:" + settings.LogTimestampFormat + "}";
        LoggerConfiguration serilog = new LoggerConfiguration().MinimumLevel.Verbose().Enrich.With(new ControlCharacterEscaper());
        bool any = false;
        if (settings.Syslog)
        {
            // coTURN: "syslog" sends everything to syslog and no file is written.
            var syslog = new SyslogSink(settings.SyslogFacility, new MessageTemplateTextFormatter("{SourceContext}: {Message:lj} {Exception}", CultureInfo.InvariantCulture));
            serilog = serilog.WriteTo.Async(a => a.Sink(syslog), monitor: logFiles, bufferSize: LogFiles.QueueLength, blockWhenFull: false);
            any = true;
        }
        else if (settings.LogFile is { Length: > 0 } path && !fileIsStdout)
        {
            var sink = new CoturnFileSink(path, settings.SimpleLog, new MessageTemplateTextFormatter(timestamp + " {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}", CultureInfo.InvariantCulture), queued: () => logFiles.QueuedEvents);
            logFiles.Add(sink);
            if (settings.LogTimestampFormat is null)
            {
                serilog = serilog.Enrich.With(new UtcTimestampEnricher());
            }

            serilog = serilog.WriteTo.Async(a => a.Sink(sink), monitor: logFiles, bufferSize: LogFiles.QueueLength, blockWhenFull: false);
            any = true;
        }

        if (any)
        {
            logging.AddSerilog(serilog.CreateLogger(), dispose: true);
        }
    }

    /// <summary>Log timestamps without <c>new-log-timestamp</c>: UTC, to the second.</summary>
    private const string DefaultTimestampFormat = "yyyy-MM-dd HH:mm:ss";
}
