using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

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

    /// <summary>
    /// Regression: a connection still being set up when its listener stopped (a TLS handshake completing just then, or
    /// as here a first frame still being handled) was registered after the stop had closed the registered ones, and
    /// stayed open with its descriptor and its allocation.
    /// </summary>
    [Fact]
    public async Task A_connection_still_being_set_up_when_its_listener_stops_is_closed_too()
    {
        var held = new HeldAllocation();
        await using TestServer server = await TestServer.StartWithoutAuthAsync(held);
        try
        {
            server.AcceptOnlyOnceBytesArrive(); // so the first frame is handled before the connection is registered
            long baseline = server.Descriptors.InUse;
            using StunStreamClient client = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
            await client.SendRawAsync(client.Build(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17), TransactionId.NewRandom(), sign: false));
            await held.Entered.WaitAsync(TimeSpan.FromSeconds(10));

            await server.TcpListener.StopAsync(CancellationToken.None);
            held.Release();

            await client.WaitForCloseAsync(TimeSpan.FromSeconds(10));
            await Poll.UntilAsync(() => server.Descriptors.InUse == baseline, TimeSpan.FromSeconds(10), "the connection and its relay socket are closed");
        }
        finally
        {
            held.Release();
        }
    }
}
