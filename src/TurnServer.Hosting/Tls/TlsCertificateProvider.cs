using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tls;

/// <summary>
/// The TLS server certificate and settings from coTURN's <c>cert</c>, <c>pkey</c>, <c>pkey-pwd</c>,
/// <c>cipher-list</c> and <c>no-tlsv1*</c> options. TLS 1.2 and 1.3 are offered (1.0 and 1.1 are off in any case:
/// current OpenSSL refuses them); <c>no-tlsv1_2</c> leaves TLS 1.3 only. <see cref="Reload"/> swaps in a re-read
/// certificate for new handshakes, keeping the old one if the new files cannot be used, and disposes the one it
/// replaced <see cref="RetiredCertificateLifetime"/> later.
/// </summary>
public sealed class TlsCertificateProvider
{
    /// <summary>
    /// How long a replaced certificate and its intermediates are kept before they are disposed: a handshake that took
    /// them just before a reload ends within its 10 s timeout (TLS listeners, web admin), so a minute leaves ample room.
    /// Connections already up need them no more: their native TLS state holds references of its own.
    /// </summary>
    public static readonly TimeSpan RetiredCertificateLifetime = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly string? _keyPassword;
    private readonly SslProtocols _protocols;
    private readonly CipherSuitesPolicy? _ciphers;
    private readonly string? _caFile;
    private SslStreamCertificateContext _context;
    private ClientCertificateVerifier? _clients;

    private TlsCertificateProvider(string certificatePath, string keyPath, string? keyPassword, SslProtocols protocols, CipherSuitesPolicy? ciphers, string? caFile, TimeProvider time)
    {
        _time = time;
        _certificatePath = certificatePath;
        _keyPath = keyPath;
        _keyPassword = keyPassword;
        _protocols = protocols;
        _ciphers = ciphers;
        _caFile = caFile;
        _context = LoadContext();
        _clients = caFile is null ? null : ClientCertificateVerifier.Load(caFile);
    }

    /// <summary>
    /// Checks client certificates against <c>CA-file</c>, which TLS and DTLS clients must then present; null when
    /// no <c>CA-file</c> is set and clients are not asked for one.
    /// </summary>
    public ClientCertificateVerifier? ClientVerifier => Volatile.Read(ref _clients);

    /// <summary>Where <c>cipher-list</c> could not be honoured exactly, why; else null.</summary>
    public string? CipherNote { get; private init; }

    /// <summary>The certificate new handshakes present.</summary>
    public X509Certificate2 Certificate => _context.TargetCertificate;

    /// <summary>
    /// Loads the certificate named by <paramref name="settings"/>; <paramref name="time"/> (the system clock by
    /// default) times the disposal of certificates a reload replaced.
    /// </summary>
    /// <exception cref="TlsConfigurationException">A file is missing or unreadable, the key does not match, a cipher is unknown, or every TLS version is switched off.</exception>
    public static TlsCertificateProvider Load(TurnServerSettings settings, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Cert is null || settings.PKey is null)
        {
            throw new TlsConfigurationException("TLS needs both 'cert' and 'pkey'");
        }

        SslProtocols protocols = SslProtocols.Tls13 | (settings.NoTlsV1_2 ? SslProtocols.None : SslProtocols.Tls12);
        CipherSuitesPolicy? ciphers = CipherList.Parse(settings.CipherList, out string? note);
        return new TlsCertificateProvider(settings.Cert, settings.PKey, settings.PKeyPassword, protocols, ciphers, settings.CaFile, time ?? TimeProvider.System) { CipherNote = note };
    }

    /// <summary>Options for one server handshake, with the current certificate.</summary>
    public SslServerAuthenticationOptions CreateServerOptions()
    {
        ClientCertificateVerifier? clients = ClientVerifier;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Volatile.Read(ref _context),
            EnabledSslProtocols = _protocols,
            CipherSuitesPolicy = _ciphers,
            ClientCertificateRequired = clients is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = clients is null ? null : (_, certificate, chain, _) =>
                certificate is not null
                && clients.Verify(
                    certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()),
                    chain?.ChainElements.Select(e => e.Certificate) ?? [],
                    out _),
        };
    }

    /// <summary>The certificate and intermediates new handshakes present.</summary>
    internal SslStreamCertificateContext Context => Volatile.Read(ref _context);

    /// <summary>
    /// Re-reads the certificate and key files, and <c>CA-file</c>; on failure what is in force stays and the
    /// exception says why. The certificate replaced is disposed <see cref="RetiredCertificateLifetime"/> later.
    /// </summary>
    /// <exception cref="TlsConfigurationException">The new files cannot be used.</exception>
    public void Reload()
    {
        SslStreamCertificateContext context = LoadContext();
        ClientCertificateVerifier? clients;
        try
        {
            clients = _caFile is null ? null : ClientCertificateVerifier.Load(_caFile);
        }
        catch (TlsConfigurationException)
        {
            Dispose(context); // never used
            throw;
        }

        SslStreamCertificateContext replaced = Interlocked.Exchange(ref _context, context);
        Volatile.Write(ref _clients, clients);
        var retired = new Retired(replaced);
        retired.Timer = _time.CreateTimer(static r => ((Retired)r!).End(), retired, RetiredCertificateLifetime, Timeout.InfiniteTimeSpan);
    }

    private static void Dispose(SslStreamCertificateContext context)
    {
        foreach (X509Certificate2 intermediate in context.IntermediateCertificates)
        {
            intermediate.Dispose();
        }

        context.TargetCertificate.Dispose();
    }

    /// <summary>A replaced certificate waiting out <see cref="RetiredCertificateLifetime"/>.</summary>
    private sealed class Retired(SslStreamCertificateContext context)
    {
        /// <summary>The one-shot timer that ends it.</summary>
        public ITimer? Timer { get; set; }

        public void End()
        {
            Timer?.Dispose();
            Dispose(context);
        }
    }

    private SslStreamCertificateContext LoadContext()
    {
        X509Certificate2 certificate;
        try
        {
            certificate = _keyPassword is null
                ? X509Certificate2.CreateFromPemFile(_certificatePath, _keyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(_certificatePath, _keyPassword, _keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new TlsConfigurationException("cannot use TLS certificate '" + _certificatePath + "' with key '" + _keyPath + "': " + e.Message, e);
        }

        // CreateFromPemFile reads the first certificate only; a fullchain.pem's intermediates follow it, and clients
        // that trust only the root need them in the handshake. The context keeps copies of those it sends, so these
        // are disposed once it is made.
        var intermediates = new X509Certificate2Collection();
        try
        {
            if (!certificate.HasPrivateKey)
            {
                throw new TlsConfigurationException("TLS key '" + _keyPath + "' does not hold the private key of '" + _certificatePath + "'");
            }

            intermediates.ImportFromPemFile(_certificatePath);
            foreach (X509Certificate2 leaf in intermediates.Where(c => c.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span)).ToList())
            {
                intermediates.Remove(leaf);
                leaf.Dispose();
            }

            return SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            certificate.Dispose();
            throw new TlsConfigurationException("cannot read the certificates of '" + _certificatePath + "': " + e.Message, e);
        }
        catch (TlsConfigurationException)
        {
            certificate.Dispose();
            throw;
        }
        finally
        {
            foreach (X509Certificate2 read in intermediates)
            {
                read.Dispose();
            }
        }
    }
}
