using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Crypto.Tls;
using Org.BouncyCastle.Security;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// The test client over DTLS 1.2: BouncyCastle's <see cref="DtlsClientProtocol"/> on a UDP socket connected to the
/// server, one STUN or ChannelData message per record. Exposes the socket so tests can also send raw datagrams from
/// the session's own address.
/// </summary>
internal sealed class StunDtlsClient : StunTestClient
{
    private readonly ConnectedUdpTransport _udp;
    private readonly DtlsTransport _dtls;
    private readonly Lock _sendLock = new();

    private StunDtlsClient(ConnectedUdpTransport udp, DtlsTransport dtls, Certificate serverCertificate)
        : base(TestServer.User, TestServer.Password)
    {
        _udp = udp;
        _dtls = dtls;
        ServerCertificate = serverCertificate;
    }

    /// <summary>How long <see cref="ConnectAsync"/> waits for the handshake; closing the socket then ends BouncyCastle's attempt.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The chain the server presented.</summary>
    public Certificate ServerCertificate { get; }

    public Socket Socket => _udp.Socket;

    public IPEndPoint LocalEndPoint => (IPEndPoint)_udp.Socket.LocalEndPoint!;

    /// <summary>True once the server's close_notify (or a fatal alert) closed this client's record layer.</summary>
    public bool ClosedByServer => _udp.Closed;

    /// <summary>
    /// Connects and completes the handshake, or throws (<see cref="TimeoutException"/> after
    /// <see cref="HandshakeTimeout"/>: BouncyCastle's client retransmits for minutes); from <paramref name="socket"/>
    /// (bound, not connected) when given, so a test can send from the address first.
    /// </summary>
    public static async Task<StunDtlsClient> ConnectAsync(IPEndPoint server, bool offerRsa = false, Socket? socket = null)
    {
        var udp = new ConnectedUdpTransport(server, socket);
        var client = new TestDtlsClient(offerRsa);
        try
        {
            DtlsTransport dtls = await Task.Run(() => new DtlsClientProtocol(new SecureRandom()).Connect(client, udp)).WaitAsync(HandshakeTimeout);
            return new StunDtlsClient(udp, dtls, client.ServerCertificate!);
        }
        catch
        {
            udp.Socket.Dispose();
            throw;
        }
    }

    public override Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        lock (_sendLock)
        {
            _dtls.Send(bytes.ToArray(), 0, bytes.Length);
        }

        return Task.CompletedTask;
    }

    /// <summary>The next decrypted record, within the client timeout.</summary>
    public override Task<byte[]> ReceiveAsync() => Task.Run(() =>
    {
        byte[] buffer = new byte[_dtls.GetReceiveLimit()];
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline && !_udp.Closed)
        {
            int length = _dtls.Receive(buffer, 0, buffer.Length, 100);
            if (length >= 0)
            {
                return buffer[..length];
            }
        }

        throw new TimeoutException(_udp.Closed ? "the server closed the DTLS session" : "no DTLS record within " + Timeout);
    });

    /// <summary>Reads until the server closes the session (close_notify); false if it has not within the client timeout.</summary>
    public Task<bool> WaitForServerCloseAsync() => Task.Run(() =>
    {
        byte[] buffer = new byte[_dtls.GetReceiveLimit()];
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline && !_udp.Closed)
        {
            _dtls.Receive(buffer, 0, buffer.Length, 100);
        }

        return _udp.Closed;
    });

    /// <summary>Sends close_notify.</summary>
    public void Close()
    {
        lock (_sendLock)
        {
            _dtls.Close();
        }
    }

    public override void Dispose() => _udp.Socket.Dispose();

    /// <summary>A UDP socket on the loopback address of <paramref name="family"/>, any port.</summary>
    public static Socket BoundSocket(AddressFamily family = AddressFamily.InterNetwork)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback, 0));
        return socket;
    }

    /// <summary>A UDP socket connected to the server, as BouncyCastle's DatagramTransport.</summary>
    private sealed class ConnectedUdpTransport : DatagramTransport
    {
        public ConnectedUdpTransport(IPEndPoint server, Socket? socket)
        {
            Socket = socket ?? BoundSocket(server.AddressFamily);
            Socket.Connect(server);
        }

        public Socket Socket { get; }

        public bool Closed { get; private set; }

        public int GetReceiveLimit() => 65507;

        public int GetSendLimit() => 1200;

        public int Receive(byte[] buf, int off, int len, int waitMillis)
        {
            if (Closed || !Socket.Poll(TimeSpan.FromMilliseconds(waitMillis), SelectMode.SelectRead))
            {
                return -1;
            }

            return Socket.Receive(buf, off, len, SocketFlags.None);
        }

        public void Send(byte[] buf, int off, int len) => Socket.Send(buf, off, len, SocketFlags.None);

        public void Close() => Closed = true;
    }

    /// <summary>A DTLS 1.2 client offering the AEAD suites the server offers, accepting any server certificate (it is self-signed).</summary>
    private sealed class TestDtlsClient(bool rsa) : DefaultTlsClient
    {
        public Certificate? ServerCertificate { get; private set; }

        public override ProtocolVersion ClientVersion => ProtocolVersion.DTLSv12;

        public override ProtocolVersion MinimumVersion => ProtocolVersion.DTLSv12;

        public override int[] GetCipherSuites() => rsa
            ? [CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
            : [CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];

        public override TlsAuthentication GetAuthentication() => new CaptureServerCertificate(this);

        private sealed class CaptureServerCertificate(TestDtlsClient owner) : TlsAuthentication
        {
            public void NotifyServerCertificate(Certificate serverCertificate) => owner.ServerCertificate = serverCertificate;

            public TlsCredentials? GetClientCredentials(CertificateRequest certificateRequest) => null;
        }
    }
}
