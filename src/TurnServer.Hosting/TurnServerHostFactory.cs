using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using ILogger = Microsoft.Extensions.Logging.ILogger;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Metrics;
using TurnServer.Hosting.Services;
using TurnServer.Hosting.Udp;
using TurnServer.Hosting.UserDb;
using TurnServer.UserDb;

namespace TurnServer.Hosting;

/// <summary>
/// Builds the server's generic host from validated settings: the protocol engine, one hosted service per listener,
/// the sweeper, the pidfile, and logging to stdout and/or <c>log-file</c>. SIGTERM and SIGINT stop it cleanly
/// (sockets closed, allocations deleted, ports returned) through the host's console lifetime.
/// </summary>
public static class TurnServerHostFactory
{
    /// <summary>Creates the host. Nothing is bound until it starts.</summary>
    /// <param name="settings">Validated settings.</param>
    /// <param name="configureLogging">Extra logging setup (tests add their own sink).</param>
    /// <param name="time">The clock; defaults to the system clock.</param>
    public static IHost Create(TurnServerSettings settings, Action<ILoggingBuilder>? configureLogging = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        time ??= TimeProvider.System;
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        ConfigureLogging(builder.Logging, settings);
        configureLogging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(settings);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));

        IReadOnlyList<IPAddress> listeningIps = ListeningAddresses.Resolve(settings.ListeningIps);
        builder.Services.AddSingleton(sp => new SessionLog(sp.GetRequiredService<ILogger<SessionLog>>(), settings.Realm));
        builder.Services.AddSingleton(_ => new TurnMetrics(settings.Realm, settings.PrometheusUsernameLabels, time));
        builder.Services.AddSingleton<IAllocationObserver>(sp => new AllocationObservers(
            settings.Prometheus ? [sp.GetRequiredService<SessionLog>(), sp.GetRequiredService<TurnMetrics>()] : [sp.GetRequiredService<SessionLog>()]));
        builder.Services.AddSingleton<ServerCounters>();
        TurnUserDatabase? userDatabase = OpenUserDatabase(settings);
        UserDatabaseCredentials? databaseUsers = userDatabase is null ? null : new UserDatabaseCredentials(settings.Realm);
        builder.Services.AddSingleton(sp => new EngineConfigurator(sp.GetRequiredService<TurnEngine>(), settings, databaseUsers, time));
        builder.Services.AddSingleton(sp =>
        {
            ServerCounters counters = sp.GetRequiredService<ServerCounters>();
            ILogger relayLogger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Relay");
            var engine = new TurnEngine(
                TurnOptionsFactory.CreateOptions(settings),
                new UdpRelayEndpointFactory(settings.RelayIps, listeningIps, counters, relayLogger),
                TurnOptionsFactory.CreateCredentialSources(settings, time, () => settings.StaticAuthSecrets, databaseUsers),
                sp.GetRequiredService<IAllocationObserver>(),
                time,
                settings.MinPort,
                settings.MaxPort,
                counters);
            if (settings.Prometheus)
            {
                sp.GetRequiredService<TurnMetrics>().Attach(engine);
            }

            return engine;
        });

        if (settings.Prometheus)
        {
            builder.Services.AddSingleton(sp => new PrometheusExporter(sp.GetRequiredService<TurnMetrics>().Meter));
            builder.Services.AddSingleton(sp => new MetricsHttpServer(
                settings.PrometheusAddress,
                settings.PrometheusPort,
                settings.PrometheusPath,
                sp.GetRequiredService<PrometheusExporter>(),
                sp.GetRequiredService<TurnEngine>(),
                sp.GetRequiredService<ILoggerFactory>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsHttpServer>());
        }

        if (settings.PidFile is { Length: > 0 } pidFile)
        {
            builder.Services.AddHostedService(_ => new PidFileService(pidFile));
        }

        // Before the listeners, so the first packet already finds the database's users.
        if (userDatabase is not null)
        {
            builder.Services.AddSingleton(sp => new UserDatabaseRefresher(
                userDatabase,
                sp.GetRequiredService<EngineConfigurator>(),
                settings.Realm,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.UserDb"),
                time));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<UserDatabaseRefresher>());
        }

        if (!settings.NoUdp)
        {
            foreach (IPAddress ip in listeningIps)
            {
                var endPoint = new IPEndPoint(ip, settings.ListeningPort);
                builder.Services.AddSingleton<IHostedService>(sp => new UdpListener(
                    endPoint,
                    sp.GetRequiredService<TurnEngine>(),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Udp")));
            }
        }

        builder.Services.AddHostedService<SweeperService>();
        return builder.Build();
    }

    /// <summary>
    /// The user database the settings name: <c>psql-userdb</c>, <c>userdb</c>, or coTURN's default SQLite file when
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

        string? file = settings.UserDb ?? (settings.WantsDefaultUserDb ? DefaultUserDbFiles.FirstOrDefault(File.Exists) : null);
        return file is null ? null : TurnUserDatabase.Sqlite(file);
    }

    /// <summary>Where coTURN's builds look for the SQLite turndb when none is configured.</summary>
    internal static readonly string[] DefaultUserDbFiles = ["/var/db/turndb", "/usr/local/var/db/turndb", "/var/lib/turn/turndb"];

    private static void ConfigureLogging(ILoggingBuilder logging, TurnServerSettings settings)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(settings.ExtraVerbose ? LogLevel.Trace : settings.Verbose ? LogLevel.Debug : LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        bool fileIsStdout = settings.LogFile is "stdout" or "-";
        if (!settings.NoStdoutLog || fileIsStdout)
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-dd HH:mm:ss ";
                o.UseUtcTimestamp = true;
            });
        }

        if (settings.LogFile is { Length: > 0 } path && !fileIsStdout)
        {
            Serilog.Core.Logger fileLogger = new LoggerConfiguration()
                .MinimumLevel.Verbose()
                .WriteTo.File(path, outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            logging.AddSerilog(fileLogger, dispose: true);
        }
    }
}
