using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// A self-signed certificate for localhost (ECDSA P-256, or RSA 2048) written as PEM files, as an operator gives them
/// to coTURN.
/// </summary>
internal sealed class TestCertificate : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-cert-").FullName;

    public TestCertificate(bool rsa = false)
    {
        using AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = key is RSA rsaKey
            ? new CertificateRequest("CN=localhost", rsaKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest("CN=localhost", (ECDsa)key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CertificatePath = Path.Combine(_directory, "turn_server_cert.pem");
        KeyPath = Path.Combine(_directory, "turn_server_pkey.pem");
        File.WriteAllText(CertificatePath, Certificate.ExportCertificatePem());
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
    }

    private TestCertificate(X509Certificate2 leaf, AsymmetricAlgorithm key, string intermediatePem, string rootPem)
    {
        Certificate = leaf;
        CertificatePath = Path.Combine(_directory, "fullchain.pem");
        KeyPath = Path.Combine(_directory, "privkey.pem");
        RootPath = Path.Combine(_directory, "root.pem");
        File.WriteAllText(CertificatePath, string.Concat(leaf.ExportCertificatePem(), "\n", intermediatePem, "\n"));
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(RootPath, rootPem);
    }

    /// <summary>
    /// A localhost certificate from an intermediate authority under a root, as a public CA issues them:
    /// <see cref="CertificatePath"/> is a fullchain.pem (the certificate, then the intermediate), <see cref="RootPath"/>
    /// the root alone, which a client trusts.
    /// </summary>
    public static TestCertificate FromIntermediate()
    {
        DateTimeOffset from = DateTimeOffset.UtcNow.AddDays(-1);
        DateTimeOffset to = DateTimeOffset.UtcNow.AddDays(30);
        using ECDsa rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 root = Authority("CN=Test Root", rootKey).CreateSelfSigned(from, to);
        using ECDsa intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 intermediate = Authority("CN=Test Intermediate", intermediateKey).Create(root, from, to, [1]);
        using ECDsa leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leaf = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        leaf.CertificateExtensions.Add(names.Build());
        leaf.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using X509Certificate2 issued = leaf.Create(intermediate.CopyWithPrivateKey(intermediateKey), from, to, [2]);
        return new TestCertificate(issued.CopyWithPrivateKey(leafKey), leafKey, intermediate.ExportCertificatePem(), root.ExportCertificatePem());

        static CertificateRequest Authority(string name, ECDsa key)
        {
            var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            return request;
        }
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The root authority of <see cref="FromIntermediate"/>; null for a self-signed certificate.</summary>
    public string? RootPath { get; }

    public string CertificatePath { get; }

    public string KeyPath { get; }

    public string[] Options => ["--cert=" + CertificatePath, "--pkey=" + KeyPath];

    public void Dispose()
    {
        Certificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
