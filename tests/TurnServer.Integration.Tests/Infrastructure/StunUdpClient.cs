using System.Net;
using System.Net.Sockets;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>A minimal TURN client over a real UDP socket, built on the project's codec, for driving the server in tests.</summary>
internal sealed class StunUdpClient : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly IPEndPoint _server;

    public StunUdpClient(IPEndPoint server, string user = TestServer.User, string password = TestServer.Password)
    {
        _server = server;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        User = user;
        Key = MessageIntegrity.ComputeLongTermKey(user, TestServer.Realm, password);
    }

    public delegate void Attributes(ref StunMessageWriter writer);

    public string User { get; }

    public byte[] Key { get; }

    public string? Nonce { get; private set; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public void SendRaw(ReadOnlySpan<byte> datagram) => _socket.SendTo(datagram, SocketFlags.None, _server);

    public async Task<byte[]> ReceiveAsync()
    {
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(Timeout);
        SocketReceiveFromResult result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
        return buffer[..result.ReceivedBytes];
    }

    /// <summary>Sends a request (signed once a nonce is known) and returns the response with the same transaction ID, retrying once after a 401 challenge.</summary>
    public async Task<byte[]> RequestAsync(StunMethod method, Attributes? attributes = null, TransactionId? transactionId = null)
    {
        bool signed = Nonce is not null;
        byte[] response = await ExchangeAsync(Build(method, attributes, transactionId ?? TransactionId.NewRandom(), signed));
        int code = Code(response);
        if (code == 438 || (code == 401 && !signed))
        {
            StunMessageReader.TryParse(response, out StunMessageReader message);
            message.TryGetAttribute(StunAttributeType.Nonce, out ReadOnlySpan<byte> nonce);
            Nonce = System.Text.Encoding.UTF8.GetString(nonce);
            response = await ExchangeAsync(Build(method, attributes, TransactionId.NewRandom(), sign: true));
        }

        return response;
    }

    public byte[] Build(StunMethod method, Attributes? attributes, TransactionId transactionId, bool sign, StunMessageClass messageClass = StunMessageClass.Request)
    {
        var buffer = new byte[2048];
        var writer = new StunMessageWriter(buffer, method, messageClass, transactionId);
        attributes?.Invoke(ref writer);
        if (sign)
        {
            writer.WriteText(StunAttributeType.Username, User);
            writer.WriteText(StunAttributeType.Realm, TestServer.Realm);
            writer.WriteText(StunAttributeType.Nonce, Nonce!);
            writer.WriteMessageIntegrity(Key);
        }

        return writer.Written.ToArray();
    }

    public async Task<byte[]> ExchangeAsync(byte[] request)
    {
        SendRaw(request);
        while (true)
        {
            byte[] datagram = await ReceiveAsync();
            if (datagram.Length >= 20 && datagram.AsSpan(8, 12).SequenceEqual(request.AsSpan(8, 12)))
            {
                return datagram;
            }
        }
    }

    public async Task<TransportAddress> AllocateAsync()
    {
        byte[] response = await RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
        Assert.Equal(0, Code(response));
        StunMessageReader.TryParse(response, out StunMessageReader message);
        Assert.True(message.VerifyMessageIntegrity(Key));
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress relayed));
        return relayed;
    }

    public static int Code(byte[] response)
    {
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        return message.TryGetErrorCode(out int code, out _) ? code : 0;
    }

    public void Dispose() => _socket.Dispose();
}
