using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// SIGHUP: reads the configuration again, as the process was started (same file, environment and command line), and
/// puts in force what can change while running: <c>user</c> entries, <c>static-auth-secret</c>s, peer rules
/// (<c>allowed-peer-ip</c>, <c>denied-peer-ip</c>, <c>allow-loopback-peers</c>), quotas, and the TLS certificate and
/// key (re-read from the files named at start, into the TLS listeners' <see cref="TlsCertificateProvider"/>). A
/// configuration with errors changes nothing: the errors are logged and the running configuration stays. Other
/// options (ports, addresses, realm, logging, certificate paths) take effect at the next start.
/// </summary>
internal sealed partial class ConfigurationReloader
{
    private readonly Func<TurnServerConfigLoadResult> _load;
    private readonly EngineConfigurator _configurator;
    private readonly TlsCertificateProvider? _tls;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();

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
            catch (IOException e)
            {
                LogRejected(_logger, e.Message);
                return false;
            }

            if (result.Settings is not { } settings)
            {
                LogRejected(_logger, string.Join("; ", result.Errors));
                return false;
            }

            TurnServerSettings running = _configurator.Settings;
            _configurator.Apply(settings);
            LogReloaded(_logger, settings.Users.Count, settings.StaticAuthSecrets.Count, settings.AllowedPeerIps.Count, settings.DeniedPeerIps.Count);
            if (settings.Realm != running.Realm || settings.ListeningPort != running.ListeningPort || !settings.ListeningIps.SequenceEqual(running.ListeningIps)
                || settings.MinPort != running.MinPort || settings.MaxPort != running.MaxPort || settings.Cert != running.Cert || settings.PKey != running.PKey)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "the reloaded configuration changes the realm, listeners, relay ports or certificate paths; those take effect at the next start")]
    private static partial void LogNeedsRestart(ILogger logger);
}
