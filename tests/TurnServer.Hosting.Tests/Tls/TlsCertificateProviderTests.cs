using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.Tls;

namespace TurnServer.Hosting.Tests.Tls;

/// <summary>The TLS certificate from <c>cert</c> and <c>pkey</c>, and its reload.</summary>
public sealed class TlsCertificateProviderTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-tls-reload-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// Regression: a reload dropped the certificate it replaced, and its intermediates, without disposing them, so
    /// each SIGHUP or SIGUSR2 left their native handles to the finalizer. They are disposed once the handshakes that
    /// may have taken them are over, a minute later and not before; a connection made with them keeps working.
    /// </summary>
    [Fact]
    public async Task A_replaced_certificate_is_disposed_a_minute_later_and_connections_made_with_it_keep_working()
    {
        var clock = new ManualClock();
        var settings = new TurnServerSettings { Cert = Path.Combine(_directory, "cert.pem"), PKey = Path.Combine(_directory, "pkey.pem") };
        WriteChain(settings, "CN=first.example.org");
        TlsCertificateProvider provider = TlsCertificateProvider.Load(settings, clock);
        SslStreamCertificateContext first = provider.Context;
        X509Certificate2 firstIntermediate = Assert.Single(first.IntermediateCertificates);
        (SslStream client, SslStream server, string subject) = await HandshakeAsync(provider);
        using (client)
        using (server)
        {
            Assert.Equal("CN=first.example.org", subject);

            WriteChain(settings, "CN=second.example.org");
            provider.Reload();
            clock.Advance(TlsCertificateProvider.RetiredCertificateLifetime - TimeSpan.FromSeconds(1));
            Assert.NotEqual(IntPtr.Zero, first.TargetCertificate.Handle); // a handshake that took it may still run
            clock.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(IntPtr.Zero, first.TargetCertificate.Handle);
            Assert.Equal(IntPtr.Zero, firstIntermediate.Handle);
            Assert.Equal("CN=second.example.org", provider.Certificate.Subject);

            await server.WriteAsync("from the server"u8.ToArray());
            Assert.Equal("from the server"u8.ToArray(), await ReadAsync(client, 15));
            await client.WriteAsync("from the client"u8.ToArray());
            Assert.Equal("from the client"u8.ToArray(), await ReadAsync(server, 15));
        }

        (client, server, subject) = await HandshakeAsync(provider);
        client.Dispose();
        server.Dispose();
        Assert.Equal("CN=second.example.org", subject);
    }

    /// <summary>A certificate for <paramref name="subject"/> issued by an intermediate, both in the <c>cert</c> file (no root), and its key.</summary>
    private static void WriteChain(TurnServerSettings settings, string subject)
    {
        DateTimeOffset from = DateTimeOffset.UtcNow.AddDays(-1), to = DateTimeOffset.UtcNow.AddDays(1);
        using ECDsa rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using ECDsa intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using ECDsa leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Example Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using X509Certificate2 root = rootRequest.CreateSelfSigned(from, to);
        var intermediateRequest = new CertificateRequest("CN=Example Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using X509Certificate2 intermediate = intermediateRequest.Create(root, from, to, [1]);
        using X509Certificate2 withKey = intermediate.CopyWithPrivateKey(intermediateKey);
        using X509Certificate2 leaf = new CertificateRequest(subject, leafKey, HashAlgorithmName.SHA256).Create(withKey, from, to, [2]);
        File.WriteAllText(settings.Cert!, leaf.ExportCertificatePem() + "\n" + intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(settings.PKey!, leafKey.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A TLS connection over loopback, its server end on <paramref name="provider"/>'s options; and the subject the client was shown.</summary>
    private static async Task<(SslStream Client, SslStream Server, string Subject)> HandshakeAsync(TlsCertificateProvider provider)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var connecting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await connecting.ConnectAsync(listener.LocalEndPoint!);
        Socket accepted = await listener.AcceptAsync();
        string subject = "";
        var client = new SslStream(new NetworkStream(connecting, ownsSocket: true), leaveInnerStreamOpen: false, (_, certificate, _, _) =>
        {
            subject = certificate?.Subject ?? "";
            return true;
        });
        var server = new SslStream(new NetworkStream(accepted, ownsSocket: true), leaveInnerStreamOpen: false);
        await Task.WhenAll(
            client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }),
            server.AuthenticateAsServerAsync(provider.CreateServerOptions())).WaitAsync(Timeout);
        return (client, server, subject);
    }

    private static async Task<byte[]> ReadAsync(Stream stream, int count)
    {
        byte[] buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
        return buffer;
    }
}
