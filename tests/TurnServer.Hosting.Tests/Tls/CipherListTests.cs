using System.Net.Security;
using System.Runtime.Versioning;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Tests.Tls;

/// <summary>coTURN's cipher-list, an OpenSSL cipher string, as .NET cipher suites.</summary>
public sealed class CipherListTests
{
    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void Openssl_names_become_exactly_those_iana_suites_in_order()
    {
        CipherSuitesPolicy? policy = CipherList.Parse("ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256, ECDHE-ECDSA-CHACHA20-POLY1305", out string? note);

        Assert.NotNull(policy);
        Assert.Null(note);
        Assert.Equal(
            [TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
            policy.AllowedCipherSuites);
    }

    [Theory]
    [InlineData("DEFAULT")]
    [InlineData("HIGH:!aNULL:!MD5")]
    [InlineData("ECDHE-RSA-AES128-GCM-SHA256:+AES256")]
    public void Keyword_strings_keep_the_system_defaults_and_say_so(string cipherList)
    {
        Assert.Null(CipherList.Parse(cipherList, out string? note));
        Assert.Contains("'" + cipherList + "' uses OpenSSL keywords", note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void No_cipher_list_means_the_system_defaults_without_a_note(string? cipherList)
    {
        Assert.Null(CipherList.Parse(cipherList, out string? note));
        Assert.Null(note);
    }

    /// <summary>As in coTURN, where cipher-list reaches OpenSSL's TLS 1.2 list only, TLS 1.3 keeps OpenSSL's default suites.</summary>
    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void A_list_without_tls13_suites_keeps_the_default_tls13_ones()
    {
        CipherSuitesPolicy? policy = CipherList.Parse("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA", out _);

        Assert.NotNull(policy);
        Assert.Equal(
            [TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_AES_128_GCM_SHA256,
                TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA],
            policy.AllowedCipherSuites);
    }

    [Fact]
    public void An_unknown_cipher_name_stops_start_up_naming_it()
    {
        TlsConfigurationException error = Assert.Throws<TlsConfigurationException>(() => CipherList.Parse("ECDHE-RSA-AES128-GCM-SHA256:NO-SUCH-CIPHER", out _));
        Assert.Contains("NO-SUCH-CIPHER", error.Message, StringComparison.Ordinal);
    }
}
