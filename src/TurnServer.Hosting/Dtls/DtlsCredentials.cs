using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Security;
using TurnServer.Hosting.Tls;
using BcCertificate = Org.BouncyCastle.Crypto.Tls.Certificate;

namespace TurnServer.Hosting.Dtls;

/// <summary>A certificate chain and private key in BouncyCastle's types, ready for a DTLS handshake.</summary>
/// <param name="Source">The .NET certificate it was made from (compared by reference to notice a reload).</param>
/// <param name="Chain">The server certificate first, then any intermediates from the <c>cert</c> file.</param>
/// <param name="PrivateKey">The key of the first certificate.</param>
/// <param name="IsEcdsa">True for an ECDSA key, false for RSA.</param>
internal sealed record DtlsCredentialSet(X509Certificate2 Source, BcCertificate Chain, AsymmetricKeyParameter PrivateKey, bool IsEcdsa);

/// <summary>
/// The DTLS side of <c>cert</c>, <c>pkey</c> and <c>pkey-pwd</c>: the same certificate and key TLS uses, taken from
/// <see cref="TlsCertificateProvider"/> (so encrypted keys and <see cref="TlsCertificateProvider.Reload"/> work the same
/// way) and converted to BouncyCastle's types once per certificate, not per handshake. RSA and ECDSA keys only.
/// </summary>
internal sealed class DtlsCredentials
{
    private readonly TlsCertificateProvider _provider;
    private readonly string _certificatePath;
    private DtlsCredentialSet _current;

    private DtlsCredentials(TlsCertificateProvider provider, string certificatePath)
    {
        _provider = provider;
        _certificatePath = certificatePath;
        _current = Convert(provider.Certificate, certificatePath);
    }

    /// <summary>Checks client certificates (<c>CA-file</c>), as for TLS; null when clients are not asked for one.</summary>
    public ClientCertificateVerifier? ClientVerifier => _provider.ClientVerifier;

    /// <summary>
    /// The credentials new handshakes use: converted again when the provider has reloaded its certificate; if the
    /// new one cannot be converted, the previous stays, as for TLS.
    /// </summary>
    public DtlsCredentialSet Current
    {
        get
        {
            DtlsCredentialSet current = Volatile.Read(ref _current);
            X509Certificate2 certificate = _provider.Certificate;
            if (ReferenceEquals(current.Source, certificate))
            {
                return current;
            }

            try
            {
                current = Convert(certificate, _certificatePath);
                Volatile.Write(ref _current, current);
            }
            catch (TlsConfigurationException)
            {
                // keep serving the previous certificate
            }

            return current;
        }
    }

    /// <summary>Converts the provider's certificate now, so an unusable key fails start-up rather than the first handshake.</summary>
    /// <exception cref="TlsConfigurationException">The key is neither RSA nor ECDSA, or the chain cannot be read.</exception>
    public static DtlsCredentials Create(TlsCertificateProvider provider, string certificatePath) => new(provider, certificatePath);

    private static DtlsCredentialSet Convert(X509Certificate2 certificate, string certificatePath)
    {
        byte[] pkcs8;
        bool isEcdsa;
        try
        {
            using ECDsa? ecdsa = certificate.GetECDsaPrivateKey();
            using RSA? rsa = ecdsa is null ? certificate.GetRSAPrivateKey() : null;
            isEcdsa = ecdsa is not null;
            pkcs8 = ecdsa?.ExportPkcs8PrivateKey() ?? rsa?.ExportPkcs8PrivateKey()
                ?? throw new TlsConfigurationException("DTLS needs an RSA or ECDSA key in 'pkey'; the key of '" + certificatePath + "' is neither");
        }
        catch (CryptographicException e)
        {
            throw new TlsConfigurationException("cannot use the key of '" + certificatePath + "' for DTLS: " + e.Message, e);
        }

        try
        {
            AsymmetricKeyParameter key = PrivateKeyFactory.CreateKey(pkcs8);
            return new DtlsCredentialSet(certificate, new BcCertificate(ReadChain(certificate, certificatePath)), key, isEcdsa);
        }
        catch (Exception e) when (e is IOException or ArgumentException or CryptographicException or InvalidOperationException)
        {
            throw new TlsConfigurationException("cannot use '" + certificatePath + "' for DTLS: " + e.Message, e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>
    /// The server certificate, then the other certificates of the <c>cert</c> file in order: operators append their
    /// CA's intermediates there for coTURN, and a DTLS client cannot fetch missing intermediates itself.
    /// </summary>
    private static X509CertificateStructure[] ReadChain(X509Certificate2 leaf, string certificatePath)
    {
        var chain = new List<X509CertificateStructure> { Parse(leaf.RawData) };
        var file = new X509Certificate2Collection();
        file.ImportFromPemFile(certificatePath);
        foreach (X509Certificate2 other in file)
        {
            if (!other.RawData.AsSpan().SequenceEqual(leaf.RawData))
            {
                chain.Add(Parse(other.RawData));
            }

            other.Dispose();
        }

        return [.. chain];
    }

    private static X509CertificateStructure Parse(byte[] der) => X509CertificateStructure.GetInstance(Asn1Object.FromByteArray(der));
}
