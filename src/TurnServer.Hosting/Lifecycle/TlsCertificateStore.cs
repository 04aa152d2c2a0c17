using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// The TLS certificate and key (coTURN's <c>cert</c>, <c>pkey</c>, <c>pkey-pwd</c>, PEM files), read at start and again
/// on SIGUSR2 or SIGHUP (coTURN reloads certificates on SIGUSR2). TLS listeners take <see cref="Current"/> for each new
/// handshake and may subscribe to <see cref="Changed"/>; connections already up keep the certificate they started with.
/// A new pair that cannot be read, or whose key does not match, is refused and the old one stays in force.
/// </summary>
public sealed partial class TlsCertificateStore : IDisposable
{
    private readonly ILogger _logger;
    private readonly Lock _sync = new();
    private X509Certificate2? _current;

    /// <summary>Creates an empty store; nothing is read until <see cref="Reload"/>.</summary>
    public TlsCertificateStore(ILogger logger) => _logger = logger ?? throw new ArgumentNullException(nameof(logger));

    /// <summary>Raised after a new certificate was put in force.</summary>
    public event Action<X509Certificate2>? Changed;

    /// <summary>The certificate (with its private key) in force, or null when none could be read yet.</summary>
    public X509Certificate2? Current
    {
        get
        {
            lock (_sync)
            {
                return _current;
            }
        }
    }

    /// <summary>
    /// Reads <paramref name="certificateFile"/> and <paramref name="keyFile"/> (the key may be in the certificate file
    /// when <paramref name="keyFile"/> is null) and puts them in force. Returns false, keeping the previous pair and
    /// logging why, when they cannot be read.
    /// </summary>
    public bool Reload(string certificateFile, string? keyFile, string? keyPassword)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificateFile);
        X509Certificate2 loaded;
        try
        {
            loaded = keyPassword is { Length: > 0 }
                ? X509Certificate2.CreateFromEncryptedPemFile(certificateFile, keyPassword, keyFile)
                : X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            LogReloadFailed(_logger, certificateFile, keyFile ?? certificateFile, e.Message);
            return false;
        }

        X509Certificate2? previous;
        lock (_sync)
        {
            previous = _current;
            _current = loaded;
        }

        LogLoaded(_logger, loaded.Subject, loaded.Thumbprint, loaded.NotAfter.ToUniversalTime());
        Changed?.Invoke(loaded);

        // Handshakes in flight may still hold the old one; it is left to the finalizer rather than disposed under them.
        GC.KeepAlive(previous);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_sync)
        {
            _current?.Dispose();
            _current = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS certificate in force: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:u}")]
    private static partial void LogLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(Level = LogLevel.Error, Message = "TLS certificate {Certificate} with key {Key} cannot be read, keeping the one in force: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string certificate, string key, string reason);
}
