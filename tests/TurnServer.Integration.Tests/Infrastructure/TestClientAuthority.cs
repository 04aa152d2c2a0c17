using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// A certificate authority for client certificates (coTURN's <c>CA-file</c>) and one client certificate it issued,
/// written as PEM files, as an operator and a client would hold them.
/// </summary>
internal sealed class TestClientAuthority : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-ca-").FullName;

    public TestClientAuthority(string name = "Test Client CA")
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=" + name, caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        using X509Certificate2 authority = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var clientKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var clientRequest = new CertificateRequest("CN=turn-client", clientKey, HashAlgorithmName.SHA256);
        clientRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using X509Certificate2 issued = clientRequest.Create(authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), [1, 2, 3, 4]);
        ClientCertificate = issued.CopyWithPrivateKey(clientKey);

        AuthorityPath = Path.Combine(_directory, "ca.pem");
        ClientCertificatePath = Path.Combine(_directory, "client.pem");
        ClientKeyPath = Path.Combine(_directory, "client.key");
        File.WriteAllText(AuthorityPath, authority.ExportCertificatePem());
        File.WriteAllText(ClientCertificatePath, issued.ExportCertificatePem());
        File.WriteAllText(ClientKeyPath, clientKey.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>The CA certificate's PEM file, for <c>CA-file</c>.</summary>
    public string AuthorityPath { get; }

    /// <summary>The client certificate with its private key.</summary>
    public X509Certificate2 ClientCertificate { get; }

    public string ClientCertificatePath { get; }

    public string ClientKeyPath { get; }

    /// <summary>turnutils_uclient's flags to present the client certificate.</summary>
    public string[] UclientOptions => ["-i", ClientCertificatePath, "-k", ClientKeyPath];

    public void Dispose()
    {
        ClientCertificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
