using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Crypto.Parameters;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Tests.Dtls;

/// <summary>The same <c>cert</c>/<c>pkey</c> PEM files TLS reads, converted for BouncyCastle.</summary>
public sealed class DtlsCredentialsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-dtls-cert-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void An_ecdsa_key_and_its_certificate_are_converted()
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 leaf = SelfSigned(new CertificateRequest("CN=turn.example.org", key, HashAlgorithmName.SHA256));
        DtlsCredentialSet set = Load(leaf, key, password: null, intermediates: []);

        Assert.True(set.IsEcdsa);
        var bcKey = Assert.IsType<ECPrivateKeyParameters>(set.PrivateKey);
        Assert.Equal(new Org.BouncyCastle.Math.BigInteger(1, key.ExportParameters(true).D), bcKey.D);
        Assert.Equal(leaf.RawData, Assert.Single(set.Chain.GetCertificateList()).GetEncoded());
    }

    [Fact]
    public void An_encrypted_rsa_key_and_the_intermediates_after_the_certificate_are_used()
    {
        using RSA key = RSA.Create(2048);
        using X509Certificate2 leaf = SelfSigned(new CertificateRequest("CN=turn.example.org", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 intermediate = SelfSigned(new CertificateRequest("CN=Example Intermediate", caKey, HashAlgorithmName.SHA256));
        DtlsCredentialSet set = Load(leaf, key, password: "pkey-pwd", intermediates: [intermediate]);

        Assert.False(set.IsEcdsa);
        Assert.IsType<RsaPrivateCrtKeyParameters>(set.PrivateKey);
        Assert.Equal([leaf.RawData, intermediate.RawData], set.Chain.GetCertificateList().Select(c => c.GetEncoded()));
    }

    private DtlsCredentialSet Load(X509Certificate2 leaf, AsymmetricAlgorithm key, string? password, X509Certificate2[] intermediates)
    {
        string cert = Path.Combine(_directory, "cert.pem");
        string pkey = Path.Combine(_directory, "pkey.pem");
        File.WriteAllText(cert, string.Concat(new[] { leaf }.Concat(intermediates).Select(c => c.ExportCertificatePem() + "\n")));
        File.WriteAllText(pkey, password is null
            ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)));
        var settings = new TurnServerSettings { Cert = cert, PKey = pkey, PKeyPassword = password };
        return DtlsCredentials.Create(TlsCertificateProvider.Load(settings), cert).Current;
    }

    private static X509Certificate2 SelfSigned(CertificateRequest request) =>
        request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
}
