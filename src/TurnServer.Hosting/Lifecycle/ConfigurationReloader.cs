using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// SIGHUP: reads the configuration again, as the process was started (same file, environment and command line), and
/// puts in force what can change while running: <c>user</c> entries, <c>static-auth-secret</c>s, peer rules
/// (<c>allowed-peer-ip</c>, <c>denied-peer-ip</c>, <c>allow-loopback-peers</c>), quotas, and the TLS certificate and
/// key (re-read from the files named at start, into the TLS listeners' <see cref="TlsCertificateProvider"/>). A
/// configuration with errors, or one that turns <c>no-auth</c> on or off or changes the realm, changes nothing: the
/// reason is logged and the running configuration stays. Other options (ports, addresses, logging, certificate paths,
/// the user and statistics databases, oauth) take effect at the next start, and a reload that changes the ones an
/// operator would expect to act at once says so.
/// </summary>
internal sealed partial class ConfigurationReloader
{
    private readonly Func<TurnServerConfigLoadResult> _load;
    private readonly EngineConfigurator _configurator;
    private readonly TlsCertificateProvider? _tls;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();

    // What the listeners and the engine were built with: reloads are compared with it, not with the previous reload.
    private readonly TurnServerSettings _started;

    /// <summary>
    /// Reloads with <paramref name="load"/> (the start-up sources read again) into <paramref name="configurator"/>, and the certificate into
    /// <paramref name="tls"/> (null: no TLS listener).
    /// </summary>
    public ConfigurationReloader(Func<TurnServerConfigLoadResult> load, EngineConfigurator configurator, TlsCertificateProvider? tls, ILogger logger)
    {
        _load = load;
        _configurator = configurator;
        _tls = tls;
        _logger = logger;
        _started = configurator.Settings;
    }

    /// <summary>Reloads; true when the new configuration is in force.</summary>
    public bool Reload()
    {
        lock (_sync)
        {
            TurnServerConfigLoadResult result;
            try
            {
                result = _load();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogRejected(_logger, e.Message);
                return false;
            }

            if (result.Settings is not { } settings)
            {
                LogRejected(_logger, string.Join("; ", result.Errors));
                return false;
            }

            // The engine was built with or without an authenticator: switching no-auth either way would either leave
            // the relay open while the log says credentials are in force, or shut every client out.
            if (settings.NoAuth != _started.NoAuth)
            {
                LogRejected(_logger, settings.NoAuth
                    ? "no-auth is set, but the server runs with authentication; turning it off needs a restart"
                    : "no-auth is gone, but the server runs without authentication; turning it on needs a restart");
                return false;
            }

            // The engine answers with the realm it started with, and users' keys are derived with it.
            if (settings.Realm != _started.Realm)
            {
                LogRejected(_logger, $"realm changes from '{_started.Realm}' to '{settings.Realm}', which needs a restart");
                return false;
            }

            _configurator.Apply(settings);
            LogReloaded(_logger, settings.Users.Count, settings.StaticAuthSecrets.Count, settings.AllowedPeerIps.Count, settings.DeniedPeerIps.Count);
            if (settings.ListeningPort != _started.ListeningPort || !settings.ListeningIps.SequenceEqual(_started.ListeningIps)
                || settings.MinPort != _started.MinPort || settings.MaxPort != _started.MaxPort || settings.Cert != _started.Cert || settings.PKey != _started.PKey
                || settings.UserDb != _started.UserDb || settings.PsqlUserDb != _started.PsqlUserDb || settings.RedisUserDb != _started.RedisUserDb
                || settings.RedisStatsDb != _started.RedisStatsDb || settings.OAuth != _started.OAuth)
            {
                LogNeedsRestart(_logger);
            }

            ReloadCertificate();
            return true;
        }
    }

    /// <summary>SIGUSR2 (and part of SIGHUP): re-reads the TLS certificate and key; a pair that cannot be used is refused.</summary>
    public void ReloadCertificate()
    {
        if (_tls is null)
        {
            return;
        }

        try
        {
            _tls.Reload();
            LogCertificate();
        }
        catch (TlsConfigurationException e)
        {
            LogCertificateRefused(_logger, e.Message);
        }
    }

    /// <summary>Logs the certificate new TLS handshakes present (at start and after each reload).</summary>
    public void LogCertificate()
    {
        if (_tls?.Certificate is { } certificate)
        {
            LogCertificateInForce(_logger, certificate.Subject, certificate.Thumbprint, certificate.NotAfter.ToUniversalTime());
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "configuration reload refused, the running configuration stays: {Errors}")]
    private static partial void LogRejected(ILogger logger, string errors);

    [LoggerMessage(Level = LogLevel.Information, Message = "configuration reloaded: {Users} users, {Secrets} shared secrets, {Allowed} allowed and {Denied} denied peer ranges")]
    private static partial void LogReloaded(ILogger logger, int users, int secrets, int allowed, int denied);

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS certificate in force: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}")]
    private static partial void LogCertificateInForce(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(Level = LogLevel.Error, Message = "TLS certificate reload refused, keeping the one in force: {Reason}")]
    private static partial void LogCertificateRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the reloaded configuration changes listeners, relay ports, certificate paths, databases or oauth; those take effect at the next start")]
    private static partial void LogNeedsRestart(ILogger logger);
}
