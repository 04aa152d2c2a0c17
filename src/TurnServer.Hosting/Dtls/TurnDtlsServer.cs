using System.Collections;
using X509Certificate2 = System.Security.Cryptography.X509Certificates.X509Certificate2;
using X509CertificateLoader = System.Security.Cryptography.X509Certificates.X509CertificateLoader;
using Org.BouncyCastle.Crypto.Tls;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// The server side of one DTLS handshake for BouncyCastle: DTLS 1.2 only, ephemeral ECDH with AES-GCM (forward
/// secrecy and AEAD, the suites coTURN's default OpenSSL build prefers), signed with the configured RSA or ECDSA key.
/// DTLS 1.0 is not offered: its suites are CBC with HMAC-SHA1, and current OpenSSL clients refuse it anyway at
/// their default security level. With <c>CA-file</c> the client must present a certificate that chains to it.
/// </summary>
internal sealed class TurnDtlsServer : DefaultTlsServer
{
    private static readonly int[] EcdsaSuites =
    [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ];

    private static readonly int[] RsaSuites =
    [
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];

    /// <summary>Hashes to sign ServerKeyExchange with, best first (RFC 5246 section 7.4.1.4.1).</summary>
    private static readonly byte[] PreferredHashes = [HashAlgorithm.sha256, HashAlgorithm.sha384, HashAlgorithm.sha512, HashAlgorithm.sha1];

    /// <summary>
    /// How much later than the session's own deadline BouncyCastle's handshake limit falls: the transport's deadline
    /// (<see cref="DtlsDatagramTransport.Receive"/>) then always ends a handshake that ran out of time, so the session
    /// knows it timed out rather than failed. BouncyCastle measures on a coarser clock and, given the same limit, at
    /// times gave up a fraction of a millisecond first.
    /// </summary>
    private const int BackstopMillis = 1000;

    private readonly DtlsCredentialSet _credentials;
    private readonly int _handshakeTimeoutMillis;
    private readonly ClientCertificateVerifier? _clients;

    /// <summary>
    /// Signs with <paramref name="credentials"/>; the session's transport ends the handshake at <paramref name="handshakeTimeout"/>,
    /// and BouncyCastle's own limit is set <see cref="BackstopMillis"/> later; with <paramref name="clients"/>, the client must
    /// present a certificate it accepts.
    /// </summary>
    public TurnDtlsServer(DtlsCredentialSet credentials, TimeSpan handshakeTimeout, ClientCertificateVerifier? clients = null)
        : base(new RecoveringCipherFactory())
    {
        _credentials = credentials;
        _handshakeTimeoutMillis = (int)handshakeTimeout.TotalMilliseconds + BackstopMillis;
        _clients = clients;
    }

    /// <summary>The cipher suite the handshake chose (its IANA code point), once the ServerHello is sent.</summary>
    public int SelectedCipherSuite => mSelectedCipherSuite;

    /// <summary>Told of the record cipher once the keys are agreed, before the client's first encrypted record.</summary>
    public Action<AuthenticatedRecordCipher>? CipherReady { get; init; }

    /// <inheritdoc />
    public override TlsCipher GetCipher()
    {
        var cipher = new AuthenticatedRecordCipher(base.GetCipher());
        CipherReady?.Invoke(cipher);
        return cipher;
    }

    /// <inheritdoc />
    protected override ProtocolVersion MinimumVersion => ProtocolVersion.DTLSv12;

    /// <inheritdoc />
    protected override ProtocolVersion MaximumVersion => ProtocolVersion.DTLSv12;

    /// <inheritdoc />
    public override int GetHandshakeTimeoutMillis() => _handshakeTimeoutMillis;

    /// <inheritdoc />
    public override CertificateRequest? GetCertificateRequest() => _clients is null
        ? null
        : new CertificateRequest([ClientCertificateType.rsa_sign, ClientCertificateType.ecdsa_sign], TlsUtilities.GetDefaultSupportedSignatureAlgorithms(), null);

    /// <inheritdoc />
    /// <exception cref="TlsFatalAlert">No certificate, or one that does not chain to <c>CA-file</c> (bad_certificate).</exception>
    public override void NotifyClientCertificate(Certificate clientCertificate)
    {
        if (_clients is null || clientCertificate.IsEmpty)
        {
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }

        // BouncyCastle has checked the client's CertificateVerify against the first certificate; the chain is ours to check.
        X509Certificate2[] chain = [.. clientCertificate.GetCertificateList().Select(c => X509CertificateLoader.LoadCertificate(c.GetEncoded()))];
        if (!_clients.Verify(chain[0], chain[1..], out _))
        {
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
        }
    }

    /// <inheritdoc />
    protected override int[] GetCipherSuites() => _credentials.IsEcdsa ? EcdsaSuites : RsaSuites;

    /// <inheritdoc />
    protected override TlsSignerCredentials GetECDsaSignerCredentials() => CreateSigner(SignatureAlgorithm.ecdsa);

    /// <inheritdoc />
    protected override TlsSignerCredentials GetRsaSignerCredentials() => CreateSigner(SignatureAlgorithm.rsa);

    private DefaultTlsSignerCredentials CreateSigner(byte signature)
    {
        // RFC 5246 section 7.4.1.4.1: a client that sends no signature_algorithms supports SHA-1 only.
        SignatureAndHashAlgorithm algorithm = Choose(mSupportedSignatureAlgorithms, signature)
            ?? new SignatureAndHashAlgorithm(HashAlgorithm.sha1, signature);
        return new DefaultTlsSignerCredentials(mContext, _credentials.Chain, _credentials.PrivateKey, algorithm);
    }

    private static SignatureAndHashAlgorithm? Choose(IList? offered, byte signature)
    {
        if (offered is null)
        {
            return null;
        }

        foreach (byte hash in PreferredHashes)
        {
            foreach (SignatureAndHashAlgorithm candidate in offered)
            {
                if (candidate.Signature == signature && candidate.Hash == hash)
                {
                    return candidate;
                }
            }
        }

        // The client offered signature_algorithms without one this key can make: the handshake fails.
        throw new TlsFatalAlert(AlertDescription.handshake_failure);
    }
}
