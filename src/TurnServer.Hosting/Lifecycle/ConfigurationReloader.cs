using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// SIGHUP: reads the configuration again, as the process was started (same file, environment and command line), and
/// puts in force what can change while running: <c>user</c> entries, <c>static-auth-secret</c>s, peer rules
/// (<c>allowed-peer-ip</c>, <c>denied-peer-ip</c>, <c>allow-loopback-peers</c>), quotas, and the TLS certificate and
/// key. A configuration with errors changes nothing: the errors are logged and the running configuration stays.
/// Other options (ports, addresses, realm, logging) take effect at the next start.
/// </summary>
internal sealed partial class ConfigurationReloader
{
    private readonly Func<TurnServerConfigLoadResult> _load;
    private readonly EngineConfigurator _configurator;
    private readonly TlsCertificateStore _certificates;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();

    public ConfigurationReloader(Func<TurnServerConfigLoadResult> load, EngineConfigurator configurator, TlsCertificateStore certificates, ILogger logger)
    {
        _load = load;
        _configurator = configurator;
        _certificates = certificates;
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
                || settings.MinPort != running.MinPort || settings.MaxPort != running.MaxPort)
            {
                LogNeedsRestart(_logger);
            }

            ReloadCertificate(settings);
            return true;
        }
    }

    /// <summary>SIGUSR2 (and part of SIGHUP): reads the TLS certificate and key named by the configuration in force.</summary>
    public void ReloadCertificate() => ReloadCertificate(_configurator.Settings);

    private void ReloadCertificate(TurnServerSettings settings)
    {
        if (settings.Cert is { } cert)
        {
            _certificates.Reload(cert, settings.PKey, settings.PKeyPassword);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "configuration reload refused, the running configuration stays: {Errors}")]
    private static partial void LogRejected(ILogger logger, string errors);

    [LoggerMessage(Level = LogLevel.Information, Message = "configuration reloaded: {Users} users, {Secrets} shared secrets, {Allowed} allowed and {Denied} denied peer ranges")]
    private static partial void LogReloaded(ILogger logger, int users, int secrets, int allowed, int denied);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the reloaded configuration changes the realm, listeners or relay ports; those take effect at the next start")]
    private static partial void LogNeedsRestart(ILogger logger);
}
