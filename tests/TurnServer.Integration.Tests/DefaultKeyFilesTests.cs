using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tls;

namespace TurnServer.Integration.Tests;

/// <summary>
/// coTURN's default certificate files, turn_server_cert.pem and turn_server_pkey.pem, are used when found without a
/// cert or pkey line; found but unusable, they leave TLS and DTLS off, as in coTURN, where a file the configuration
/// names stops start-up.
/// </summary>
public sealed class DefaultKeyFilesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-default-keys-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Regression: a stray, unusable turn_server_cert.pem on coTURN's search path stopped a server that never asked for TLS.</summary>
    [Fact]
    public async Task Default_files_found_but_unusable_leave_tls_off_and_the_server_starts()
    {
        File.WriteAllText(Path.Combine(_directory, "turn_server_cert.pem"), "not a certificate");
        File.WriteAllText(Path.Combine(_directory, "turn_server_pkey.pem"), "not a key");
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(
            ["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--no-auth", "--no-stdout-log"],
            new Dictionary<string, string?>(),
            null,
            () => null,
            Dns.GetHostAddresses,
            name => File.Exists(Path.Combine(_directory, name)) ? Path.Combine(_directory, name) : null);
        Assert.True(config.Settings!.KeyFilesByDefault);

        using IHost host = TurnServerHostFactory.Create(config.Settings);
        await host.StartAsync();

        Assert.Null(host.Services.GetService<TlsCertificateProvider>());
        await host.StopAsync();
    }

    [Fact]
    public void Named_files_that_cannot_be_used_still_stop_start_up()
    {
        string cert = Path.Combine(_directory, "server.pem");
        File.WriteAllText(cert, "not a certificate");
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(
            ["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--no-auth", "--no-stdout-log", "--cert=" + cert, "--pkey=" + cert],
            new Dictionary<string, string?>());
        Assert.False(config.Settings!.KeyFilesByDefault);

        Assert.Throws<TlsConfigurationException>(() => TurnServerHostFactory.Create(config.Settings));
    }
}
