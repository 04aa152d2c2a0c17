using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>The test client over TCP or TLS, cutting frames from the stream with the server's own framer.</summary>
internal sealed class StunStreamClient : StunTestClient
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly PipeReader _reader;

    private StunStreamClient(Socket socket, Stream stream, string user, string password)
        : base(user, password)
    {
        _socket = socket;
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    public Socket Socket => _socket;

    public Stream Stream => _stream;

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>
    /// Connects over TCP, or TLS when <paramref name="trusted"/> (the server's self-signed certificate) is given,
    /// presenting <paramref name="clientCertificate"/> if the server asks for one. A <paramref name="receiveBufferSize"/>
    /// (SO_RCVBUF, set before connecting so the window stays that small) makes a client that stops reading back the
    /// server up quickly; a <paramref name="maxSegmentSize"/> (TCP_MAXSEG, announced in the SYN) keeps the server's
    /// send buffer, which Linux sizes in segments, as small as on a real path rather than loopback's 64 KB segments.
    /// </summary>
    public static async Task<StunStreamClient> ConnectAsync(
        IPEndPoint server,
        X509Certificate2? trusted = null,
        SslProtocols protocols = SslProtocols.None,
        string user = TestServer.User,
        string password = TestServer.Password,
        X509Certificate2? clientCertificate = null,
        int? receiveBufferSize = null,
        int? maxSegmentSize = null,
        IPAddress? localAddress = null)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (localAddress is not null)
        {
            socket.Bind(new IPEndPoint(localAddress, 0));
        }

        if (receiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size;
        }

        if (maxSegmentSize is { } mss)
        {
            const int IpProtoTcp = 6, TcpMaxSeg = 2;
            socket.SetRawSocketOption(IpProtoTcp, TcpMaxSeg, BitConverter.GetBytes(mss));
        }

        // Bounded like every read: a server that stops accepting or stalls a handshake fails the test instead of hanging it.
        using var cts = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(server, cts.Token);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (trusted is not null)
        {
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == trusted.GetCertHashString());
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = protocols,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            }, cts.Token);
            stream = ssl;
        }

        return new StunStreamClient(socket, stream, user, password);
    }

    public override async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        // A server that stops reading would otherwise block the write forever once the socket buffers fill.
        using var cts = new CancellationTokenSource(Timeout);
        await _stream.WriteAsync(bytes, cts.Token);
        await _stream.FlushAsync(cts.Token);
    }

    public override async Task<byte[]> ReceiveAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cts.Token);
            ReadOnlySequence<byte> buffer = result.Buffer;
            FrameStatus status = StreamFramer.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame, out _);
            if (status == FrameStatus.Frame)
            {
                byte[] bytes = frame.ToArray();
                _reader.AdvanceTo(buffer.Start);
                return bytes;
            }

            Assert.NotEqual(FrameStatus.Invalid, status);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException("the server closed the connection");
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> unframed bytes (an RFC 6062 data connection) through the same reader
    /// that read the answers, so bytes that arrived right behind an answer are not skipped.
    /// </summary>
    public async Task<byte[]> ReadRawAsync(int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cts.Token);
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                _reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }

            if (result.IsCompleted)
            {
                throw new EndOfStreamException("the server closed the connection");
            }

            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Completes when the server closes the connection (a read returns end of stream).</summary>
    public async Task WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cts.Token);
            _reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    public override void Dispose()
    {
        _reader.Complete();
        _stream.Dispose();
        _socket.Dispose();
    }
}
