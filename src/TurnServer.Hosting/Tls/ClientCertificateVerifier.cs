using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TurnServer.Hosting.Tls;

/// <summary>
/// coTURN's <c>CA-file</c>: TLS and DTLS clients must present a certificate that chains to one of the certificate
/// authorities in that PEM file (and, when it lists extended key usages, allows client authentication). The system's
/// trust store plays no part; revocation is not checked, as in coTURN.
/// </summary>
public sealed class ClientCertificateVerifier
{
    /// <summary>The id-kp-clientAuth extended key usage (RFC 5280 section 4.2.1.12).</summary>
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly X509Certificate2Collection _authorities;

    private ClientCertificateVerifier(X509Certificate2Collection authorities) => _authorities = authorities;

    /// <summary>Reads the certificate authorities from the PEM file <paramref name="path"/>.</summary>
    /// <exception cref="TlsConfigurationException">The file cannot be read or holds no certificate.</exception>
    public static ClientCertificateVerifier Load(string path)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new TlsConfigurationException("cannot read CA-file '" + path + "': " + e.Message, e);
        }

        return authorities.Count > 0 ? new ClientCertificateVerifier(authorities) : throw new TlsConfigurationException("CA-file '" + path + "' holds no certificate");
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> (the client's, with any intermediates it sent in
    /// <paramref name="intermediates"/>) chains to one of the authorities, is within its validity period and may
    /// authenticate a client. <paramref name="reason"/> says why not.
    /// </summary>
    public bool Verify(X509Certificate2 certificate, IEnumerable<X509Certificate2> intermediates, out string reason)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        if (chain.Build(certificate))
        {
            reason = "";
            return true;
        }

        reason = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return false;
    }
}
