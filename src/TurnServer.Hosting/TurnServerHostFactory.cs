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
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Services;
using TurnServer.Hosting.Tcp;
using TurnServer.Hosting.Tls;
using TurnServer.Hosting.Udp;

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
    public static IHost Create(
        TurnServerSettings settings,
        Action<ILoggingBuilder>? configureLogging = null,
        TimeProvider? time = null,
        Action<IServiceCollection>? configureServices = null)
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
        builder.Services.AddSingleton<IAllocationObserver>(sp => new SessionLog(sp.GetRequiredService<ILogger<SessionLog>>(), settings.Realm));
        builder.Services.AddSingleton<ServerCounters>();
        builder.Services.AddSingleton(sp =>
        {
            ServerCounters counters = sp.GetRequiredService<ServerCounters>();
            ILogger relayLogger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Relay");
            return new TurnEngine(
                TurnOptionsFactory.CreateOptions(settings),
                new UdpRelayEndpointFactory(settings.RelayIps, listeningIps, counters, relayLogger),
                TurnOptionsFactory.CreateCredentialSources(settings, time),
                new CompositeAllocationObserver(sp.GetServices<IAllocationObserver>()),
                time,
                settings.MinPort,
                settings.MaxPort,
                counters);
        });

        if (settings.PidFile is { Length: > 0 } pidFile)
        {
            builder.Services.AddHostedService(_ => new PidFileService(pidFile));
        }

        TlsCertificateProvider? certificate = CreateTlsProvider(settings);
        TlsCertificateProvider? tls = settings.NoTls ? null : certificate;
        if (certificate is not null)
        {
            builder.Services.AddSingleton(certificate);
        }

        // DTLS offers version 1.2 only, so no-tlsv1_2 (which coTURN applies to DTLS too) leaves it nothing.
        DtlsCredentials? dtls = certificate is null || settings.NoDtls || settings.NoTlsV1_2 ? null : DtlsCredentials.Create(certificate, settings.Cert!);
        builder.Services.AddSingleton(_ => new DtlsLimits { AllocationTimeout = TimeSpan.FromSeconds(settings.MaxAllocateTimeout) });

        foreach (IPAddress ip in listeningIps)
        {
            if (!settings.NoTcp)
            {
                var endPoint = new IPEndPoint(ip, settings.ListeningPort);
                builder.Services.AddSingleton<IHostedService>(sp => new TcpListenerService(
                    endPoint,
                    sp.GetRequiredService<TurnEngine>(),
                    tls: null,
                    TimeSpan.FromSeconds(settings.MaxAllocateTimeout),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Tcp"),
                    time));
            }

            if (tls is not null)
            {
                var endPoint = new IPEndPoint(ip, settings.TlsListeningPort);
                builder.Services.AddSingleton<IHostedService>(sp => new TcpListenerService(
                    endPoint,
                    sp.GetRequiredService<TurnEngine>(),
                    tls,
                    TimeSpan.FromSeconds(settings.MaxAllocateTimeout),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Tls"),
                    time));
            }

            if (dtls is not null)
            {
                var endPoint = new IPEndPoint(ip, settings.TlsListeningPort);
                builder.Services.AddSingleton<IHostedService>(sp => new DtlsListener(
                    endPoint,
                    sp.GetRequiredService<TurnEngine>(),
                    dtls,
                    sp.GetRequiredService<DtlsLimits>(),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer.Dtls"),
                    time));
            }
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
        configureServices?.Invoke(builder.Services);
        IHost host = builder.Build();
        ILogger startup = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TurnServer");
        if (tls?.CipherNote is { } note)
        {
            LogTlsNote(startup, note);
        }
        else if (certificate is null && !(settings.NoTls && settings.NoDtls))
        {
            LogTlsDisabled(startup);
        }

        return host;
    }

    /// <summary>
    /// The certificate TLS and DTLS share, when either is on and <c>cert</c> and <c>pkey</c> are set; null otherwise
    /// (TLS and DTLS listeners are then not started, as coTURN does without a certificate).
    /// </summary>
    /// <exception cref="TlsConfigurationException">The certificate or key cannot be used.</exception>
    private static TlsCertificateProvider? CreateTlsProvider(TurnServerSettings settings) =>
        (settings.NoTls && settings.NoDtls) || settings.Cert is null || settings.PKey is null ? null : TlsCertificateProvider.Load(settings);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Note}")]
    private static partial void LogTlsNote(ILogger logger, string note);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS and DTLS listeners are not started: set 'cert' and 'pkey' (PEM files) to enable them, or 'no-tls' and 'no-dtls' to silence this")]
    private static partial void LogTlsDisabled(ILogger logger);

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
