using System.Net;
using System.Net.Sockets;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>The test client over a UDP socket on 127.0.0.1 (or [::1]).</summary>
internal sealed class StunUdpClient : StunTestClient
{
    private readonly Socket _socket;
    private readonly IPEndPoint _server;

    public StunUdpClient(IPEndPoint server, string user = TestServer.User, string password = TestServer.Password)
        : base(user, password)
    {
        _server = server;
        _socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback, 0));
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public void SendRaw(ReadOnlySpan<byte> datagram) => _socket.SendTo(datagram, SocketFlags.None, _server);

    public override Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        SendRaw(bytes.Span);
        return Task.CompletedTask;
    }

    public override async Task<byte[]> ReceiveAsync()
    {
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(Timeout);
        var any = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        SocketReceiveFromResult result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cts.Token);
        return buffer[..result.ReceivedBytes];
    }

    public override void Dispose() => _socket.Dispose();
}
