using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Tests.Tls;

/// <summary>CA-file: which client certificates pass, and which files stop start-up.</summary>
public sealed class ClientCertificateVerifierTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ca-file-").FullName;
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _authority;

    public ClientCertificateVerifierTests()
    {
        var request = new CertificateRequest("CN=Client CA", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        _authority = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(30));
    }

    [Fact]
    public void A_certificate_the_authority_issued_passes_and_others_do_not()
    {
        ClientCertificateVerifier verifier = ClientCertificateVerifier.Load(WritePem(_authority));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 selfSigned = new CertificateRequest("CN=client", other, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        Assert.True(verifier.Verify(Issue(clientAuth: true), [], out string reason), reason);
        Assert.True(verifier.Verify(Issue(clientAuth: null), [], out reason), reason); // no EKU: any use
        Assert.False(verifier.Verify(Issue(clientAuth: false), [], out _)); // server authentication only
        Assert.False(verifier.Verify(Issue(clientAuth: true, expired: true), [], out _));
        Assert.False(verifier.Verify(selfSigned, [], out reason));
        Assert.NotEmpty(reason);
    }

    [Fact]
    public void A_missing_or_empty_file_stops_start_up_naming_it()
    {
        string missing = Path.Combine(_directory, "missing.pem");
        string empty = Path.Combine(_directory, "empty.pem");
        File.WriteAllText(empty, "not a certificate\n");

        Assert.Contains(missing, Assert.Throws<TlsConfigurationException>(() => ClientCertificateVerifier.Load(missing)).Message, StringComparison.Ordinal);
        Assert.Contains(empty, Assert.Throws<TlsConfigurationException>(() => ClientCertificateVerifier.Load(empty)).Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _caKey.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private X509Certificate2 Issue(bool? clientAuth, bool expired = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=client", key, HashAlgorithmName.SHA256);
        if (clientAuth is { } client)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(client ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        }

        DateTimeOffset notAfter = expired ? DateTimeOffset.UtcNow.AddHours(-1) : DateTimeOffset.UtcNow.AddDays(1);
        return request.Create(_authority, DateTimeOffset.UtcNow.AddDays(-1), notAfter, [7, 7, 7, 7]);
    }

    private string WritePem(X509Certificate2 certificate)
    {
        string path = Path.Combine(_directory, "ca.pem");
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return path;
    }
}
