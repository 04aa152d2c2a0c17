using TurnServer.Integration.Tests.Infrastructure;

namespace TurnServer.Integration.Tests;

/// <summary>Stopping the server (SIGTERM) ends cleanly whatever its clients are doing.</summary>
public sealed class ShutdownTests : IDisposable
{
    private readonly TestCertificate _certificate = new();

    public void Dispose() => _certificate.Dispose();

    /// <summary>
    /// Regression: when the host's shutdown timeout had run out before the TCP/TLS listeners and the DTLS endpoints
    /// stopped, with connections or sessions still closing, their StopAsync threw OperationCanceledException, which
    /// the host rethrew out of host.RunAsync(): the process ended on an unhandled exception (134) instead of 0.
    /// </summary>
    [Fact]
    public async Task Stopping_after_the_shutdown_timeout_ran_out_throws_nothing_and_closes_every_connection()
    {
        await using TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=0"]);
        using StunStreamClient tcp = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        using StunStreamClient tls = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate);
        using StunDtlsClient dtls = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await tcp.AllocateAsync();
        await tls.AllocateAsync();
        await dtls.AllocateAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using HttpResponseMessage scrape = await http.GetAsync(new Uri(server.MetricsBase, "/metrics")); // and keeps its connection

        await server.StopAsync(new CancellationToken(canceled: true));

        await Poll.UntilAsync(() => server.Descriptors.InUse == 0, TimeSpan.FromSeconds(10), "every connection and relay socket is closed");
    }
}
