using System.Net.Security;
using System.Security.Authentication;

namespace TurnServer.Hosting.Tls;

/// <summary>
/// Reads coTURN's <c>cipher-list</c>, an OpenSSL cipher string. A list of OpenSSL cipher names (separated by
/// <c>:</c>, <c>,</c> or spaces) becomes a <see cref="CipherSuitesPolicy"/>, with OpenSSL's default TLS 1.3 suites
/// when it names none (coTURN's list only reaches TLS 1.2 and older); OpenSSL's keywords and operators
/// (<c>DEFAULT</c>, <c>HIGH</c>, <c>!aNULL</c>, ...) cannot be mapped exactly, so such a string keeps the system's
/// default suites (which exclude NULL and export ciphers) and says so.
/// </summary>
internal static class CipherList
{
    // OpenSSL name -> IANA name (TlsCipherSuite) for the suites worth offering today: TLS 1.3 and TLS 1.2 AEAD.
    private static readonly Dictionary<string, TlsCipherSuite> Known = new(StringComparer.Ordinal)
    {
        ["TLS_AES_128_GCM_SHA256"] = TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        ["TLS_AES_256_GCM_SHA384"] = TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        ["TLS_CHACHA20_POLY1305_SHA256"] = TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        ["ECDHE-ECDSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-ECDSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["DHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
        ["DHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
        ["DHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-ECDSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-RSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-ECDSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
        ["ECDHE-RSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
        ["ECDHE-ECDSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-RSA-AES128-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ["ECDHE-ECDSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        ["ECDHE-RSA-AES256-SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        ["AES128-GCM-SHA256"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
        ["AES256-GCM-SHA384"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
        ["AES128-SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA,
        ["AES256-SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA,
    };

    // OpenSSL's cipher-string keywords (ciphers(1)): they select groups, not single suites.
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "DEFAULT", "ALL", "COMPLEMENTOFALL", "COMPLEMENTOFDEFAULT", "HIGH", "MEDIUM", "LOW", "EXPORT", "NULL", "eNULL",
        "aNULL", "kRSA", "aRSA", "RSA", "kDHE", "kEDH", "DH", "DHE", "EDH", "ADH", "kEECDH", "kECDHE", "ECDH", "ECDHE",
        "EECDH", "AECDH", "aECDSA", "ECDSA", "PSK", "SRP", "TLSv1.2", "TLSv1.0", "TLSv1", "SSLv3", "AES", "AES128",
        "AES256", "AESGCM", "AESCCM", "CHACHA20", "CAMELLIA", "ARIA", "3DES", "DES", "RC4", "MD5", "SHA1", "SHA",
        "SHA256", "SHA384", "SUITEB128", "SUITEB128ONLY", "SUITEB192", "CBC",
    };

    private static readonly Dictionary<TlsCipherSuite, string> OpenSslNames = Known.ToDictionary(k => k.Value, k => k.Key);

    private static readonly char[] Separators = [':', ',', ' '];

    // OpenSSL's default TLS 1.3 ciphersuites, in its order.
    private static readonly TlsCipherSuite[] OpenSslDefaultTls13 =
        [TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_AES_128_GCM_SHA256];

    /// <summary>
    /// The policy for <paramref name="cipherList"/>: null means the system default (also for keyword strings, reported
    /// in <paramref name="note"/>). Throws <see cref="TlsConfigurationException"/> naming an unknown cipher name.
    /// </summary>
    public static CipherSuitesPolicy? Parse(string? cipherList, out string? note)
    {
        note = null;
        if (string.IsNullOrWhiteSpace(cipherList))
        {
            return null;
        }

        string[] items = cipherList.Split(Separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var suites = new List<TlsCipherSuite>();
        foreach (string item in items)
        {
            if (Known.TryGetValue(item, out TlsCipherSuite suite))
            {
                suites.Add(suite);
                continue;
            }

            if (IsKeywordOrOperator(item))
            {
                note = "cipher-list '" + cipherList + "' uses OpenSSL keywords, which cannot be mapped exactly; the system's default TLS cipher suites are used";
                return null;
            }

            throw new TlsConfigurationException("invalid value '" + cipherList + "' for option 'cipher-list': unknown cipher '" + item + "'");
        }

        if (OperatingSystem.IsWindows())
        {
            note = "cipher-list is not supported on Windows; the system's default TLS cipher suites are used";
            return null;
        }

        // coTURN's cipher-list reaches OpenSSL's TLS 1.2 list only; TLS 1.3 keeps OpenSSL's default suites. So here,
        // which also keeps OpenSSL from refusing every handshake (protocol_version) when TLS 1.3 is on without a suite.
        if (!suites.Exists(IsTls13))
        {
            suites.InsertRange(0, OpenSslDefaultTls13);
        }

        return new CipherSuitesPolicy(suites);
    }

    /// <summary>
    /// OpenSSL's name for <paramref name="suite"/> (<c>ECDHE-RSA-AES256-GCM-SHA384</c>), as coTURN reports a
    /// connection's cipher; the IANA name for a suite outside the known list.
    /// </summary>
    public static string OpenSslName(TlsCipherSuite suite) => OpenSslNames.TryGetValue(suite, out string? name) ? name : suite.ToString();

    /// <summary>OpenSSL's name for a TLS protocol version (<c>TLSv1.2</c>, <c>TLSv1.3</c>), as coTURN reports it.</summary>
    public static string OpenSslName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
#pragma warning disable SYSLIB0039 // only named here, never enabled
        SslProtocols.Tls11 => "TLSv1.1",
        SslProtocols.Tls => "TLSv1",
#pragma warning restore SYSLIB0039
        _ => protocol.ToString(),
    };

    /// <summary>True for the TLS 1.3 suites (RFC 8446 appendix B.4), which no TLS 1.2 handshake can use.</summary>
    private static bool IsTls13(TlsCipherSuite suite) => suite is TlsCipherSuite.TLS_AES_128_GCM_SHA256 or TlsCipherSuite.TLS_AES_256_GCM_SHA384
        or TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256 or TlsCipherSuite.TLS_AES_128_CCM_SHA256 or TlsCipherSuite.TLS_AES_128_CCM_8_SHA256;

    private static bool IsKeywordOrOperator(string item) =>
        item[0] is '!' or '+' or '-' or '@' || Keywords.Contains(item) || item.Contains('+', StringComparison.Ordinal);
}
