using System.Globalization;
using System.Security.Authentication;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Dtls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// CA-file: TLS and DTLS clients must present a certificate the configured authority issued. Debian's
/// turnutils_uclient presents one (-i, -k) and relays without loss; clients without one, or with one from another
/// authority, get no further than the handshake.
/// </summary>
public partial class InteropTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Uclient_with_a_client_certificate_relays_over_tls_and_dtls_without_loss(bool tls)
    {
        using var certificate = new TestCertificate();
        using var authority = new TestClientAuthority();
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--CA-file=" + authority.AuthorityPath]);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        string[] args = [.. tls ? new[] { "-t" } : [], "-S", .. authority.UclientOptions, "-u", TestServer.User, "-w", TestServer.Password];

        await RunUclientAndCheckAsync(server, peer, args, sendIndications: false, (tls ? server.TlsEndPoints[0] : server.DtlsEndPoints[0]).Port);

        Assert.NotEmpty(server.Events.Created);
        Assert.All(server.Events.Created, a => Assert.Equal(tls ? TransportProtocol.Tls : TransportProtocol.Dtls, a.FiveTuple.Protocol));
    }

    /// <summary>
    /// The server checks the client's certificate once its side of the handshake is done, over TLS 1.2 as over 1.3:
    /// the refusal shows as the connection closing (or reset) before any answer, not as a failed handshake.
    /// </summary>
    [Theory]
    [InlineData(false, SslProtocols.Tls12)]
    [InlineData(true, SslProtocols.Tls12)]
    [InlineData(false, SslProtocols.Tls13)]
    [InlineData(true, SslProtocols.Tls13)]
    public async Task A_tls_client_without_a_certificate_from_the_ca_file_gets_nothing(bool foreignCertificate, SslProtocols protocol)
    {
        using var certificate = new TestCertificate();
        using var authority = new TestClientAuthority();
        using var stranger = new TestClientAuthority("Somebody Else's CA");
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--CA-file=" + authority.AuthorityPath]);

        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            using StunStreamClient client = await StunStreamClient.ConnectAsync(
                server.TlsEndPoints[0], certificate.Certificate, protocol, clientCertificate: foreignCertificate ? stranger.ClientCertificate : null);
            await client.RequestAsync(StunMethod.Binding);
        });

        Assert.Equal(0, server.Engine.Counters.BindingRequests);
        using StunStreamClient admitted = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], certificate.Certificate, protocol, clientCertificate: authority.ClientCertificate);
        Assert.Equal(0, StunTestClient.Code(await admitted.RequestAsync(StunMethod.Binding)));
    }

    [Fact]
    public async Task Uclient_over_dtls_without_a_client_certificate_gets_no_allocation()
    {
        using var certificate = new TestCertificate();
        using var authority = new TestClientAuthority();
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--CA-file=" + authority.AuthorityPath]);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();

        // uclient retries a failed DTLS handshake without end: it is ended, by its PID, once one has failed.
        using var ends = new DtlsSessionEvents(server.Dtls[0]);
        using ExternalProcess uclient = ExternalProcess.Start(
            "turnutils_uclient",
            ["-S", "-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", peer.Port.ToString(CultureInfo.InvariantCulture),
             "-p", server.DtlsEndPoints[0].Port.ToString(CultureInfo.InvariantCulture), "-n", "5", "-m", "1", "127.0.0.1"]);
        DtlsSessionEnd end = await ends.NextAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DtlsSessionEndReason.HandshakeFailed, end.Reason);
        Assert.Empty(server.Events.Created);
        Assert.Equal(0, server.Dtls[0].Counters.HandshakesCompleted);
    }
}
