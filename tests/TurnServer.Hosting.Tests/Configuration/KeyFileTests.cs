using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>
/// coTURN finds cert, pkey and CA-file named relatively as it finds turnserver.conf, and without cert or pkey lines
/// takes turn_server_cert.pem and turn_server_pkey.pem when that search finds them; here relative names were taken
/// against the working directory and the default names were never looked for.
/// </summary>
public sealed class KeyFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-keyfiles-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Relative_cert_pkey_and_ca_file_are_found_where_coturn_looks_for_its_configuration()
    {
        string etc = Directory.CreateDirectory(Path.Combine(_directory, "etc")).FullName;
        Touch(etc, "turn.pem");
        Touch(etc, "turn.key");
        Touch(etc, "ca.pem");

        TurnServerSettings s = Load(["--cert=turn.pem", "--pkey=etc/turn.key", "--CA-file=ca.pem"]).Settings!;

        Assert.Equal(
            (Path.Combine(etc, "turn.pem"), Path.Combine(etc, "turn.key"), Path.Combine(etc, "ca.pem")),
            (s.Cert, s.PKey, s.CaFile));
    }

    [Fact]
    public void Without_cert_and_pkey_coturns_default_files_are_used_when_the_search_finds_them()
    {
        string etc = Directory.CreateDirectory(Path.Combine(_directory, "etc")).FullName;
        Touch(etc, "turn_server_cert.pem");
        Touch(etc, "turn_server_pkey.pem");

        TurnServerConfigLoadResult result = Load([]);

        Assert.Equal((Path.Combine(etc, "turn_server_cert.pem"), Path.Combine(etc, "turn_server_pkey.pem")), (result.Settings!.Cert, result.Settings.PKey));
        Assert.Contains($"option 'cert' is not given; using {Path.Combine(etc, "turn_server_cert.pem")}, found where coTURN looks for its default turn_server_cert.pem", result.Warnings);
        Assert.Null(result.Settings.CaFile);
    }

    [Fact]
    public void Neither_given_nor_found_leaves_tls_without_a_certificate_as_before()
    {
        TurnServerConfigLoadResult result = Load([]);

        Assert.Equal((null, null), (result.Settings!.Cert, result.Settings.PKey));
        Assert.DoesNotContain(result.Warnings, w => w.Contains("turn_server_", StringComparison.Ordinal));
    }

    [Fact]
    public void A_given_file_found_nowhere_stays_as_given_and_still_stops_start_up_naming_it()
    {
        TurnServerSettings s = Load(["--cert=missing-cert.pem", "--pkey=/nonexistent/key.pem"]).Settings!;

        Assert.Equal(("missing-cert.pem", "/nonexistent/key.pem"), (s.Cert, s.PKey));
        TlsConfigurationException e = Assert.Throws<TlsConfigurationException>(() => TlsCertificateProvider.Load(s));
        Assert.Contains("missing-cert.pem", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rooted_path_is_taken_as_given_without_a_search()
    {
        Touch(_directory, "turn.pem");
        string rooted = Path.Combine(_directory, "elsewhere", "turn.pem");

        Assert.Equal(rooted, Load(["--cert=" + rooted, "--pkey=/k.pem"]).Settings!.Cert);
    }

    private TurnServerConfigLoadResult Load(string[] args) =>
        TestLoader.Load(["-n", "-z", .. args], findFile: name => ConfigFileLocator.Resolve(name, [_directory + "/etc/", _directory + "/"]));

    private static void Touch(string directory, string name) => File.WriteAllText(Path.Combine(directory, name), "");
}
