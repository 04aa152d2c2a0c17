using System.Net;
using System.Net.Sockets;
using TurnServer.Hosting.Tcp;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Tcp;

/// <summary>The PROXY protocol version 2 header, byte for byte as HAProxy's proxy-protocol.txt lays it out.</summary>
public sealed class ProxyProtocolTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    [Fact]
    public void A_proxy_header_over_tcp4_names_the_client_and_tlvs_are_skipped()
    {
        // 192.0.2.7:40000 -> 203.0.113.1:3478, then a 7-byte TLV (type 0x05, unique id "abcd").
        byte[] header = Header(0x21, 0x11, [192, 0, 2, 7, 203, 0, 113, 1, 0x9C, 0x40, 0x0D, 0x96, 0x05, 0x00, 0x04, (byte)'a', (byte)'b', (byte)'c', (byte)'d']);

        Assert.Equal(19, ProxyProtocol.ReadBlockLength(header));
        Assert.Equal("192.0.2.7:40000", ProxyProtocol.ReadSource(header).ToString());
    }

    [Fact]
    public void A_proxy_header_over_tcp6_names_the_client()
    {
        byte[] block = new byte[36];
        IPAddress.Parse("2001:db8::7").TryWriteBytes(block, out _);
        IPAddress.Parse("2001:db8::1").TryWriteBytes(block.AsSpan(16), out _);
        block[32] = 0x13;
        block[33] = 0x88;

        Assert.Equal("[2001:db8::7]:5000", ProxyProtocol.ReadSource(Header(0x21, 0x21, block)).ToString());
    }

    [Theory]
    [InlineData(0x20, 0x11)] // LOCAL: the balancer's own connection, e.g. a health check
    [InlineData(0x21, 0x00)] // UNSPEC
    [InlineData(0x21, 0x12)] // UDP over IPv4
    [InlineData(0x21, 0x31)] // UNIX stream
    [InlineData(0x20, 0xFF)] // LOCAL discards the family, even one not defined
    public void Local_and_other_families_keep_the_connections_own_address(byte command, byte family)
    {
        Assert.Null(ProxyProtocol.ReadSource(Header(command, family, new byte[12])));
    }

    [Fact]
    public void Anything_else_is_refused()
    {
        byte[] v1 = "PROXY TCP4 192.0.2.7 203.0.113.1 40000 3478\r\n"u8.ToArray();
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadBlockLength(v1));
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadBlockLength(Header(0x11, 0x11, new byte[12]))); // version 1 in the binary form
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadBlockLength(Header(0x21, 0x11, new byte[ProxyProtocol.MaxBlockLength + 1])));
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadSource(Header(0x21, 0x11, new byte[11])));
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadSource(Header(0x21, 0x21, new byte[35])));
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadSource(Header(0x21, 0x41, new byte[36]))); // family 4: undefined
        Assert.Throws<InvalidDataException>(() => ProxyProtocol.ReadSource(Header(0x21, 0x13, new byte[12]))); // transport 3: undefined
    }

    [Fact]
    public async Task Reading_off_a_socket_takes_the_header_byte_by_byte_and_leaves_what_follows()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using Socket server = await listener.AcceptAsync();
        client.NoDelay = true;
        byte[] header = Header(0x21, 0x11, [192, 0, 2, 7, 203, 0, 113, 1, 0x9C, 0x40, 0x0D, 0x96]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        Task<TransportAddress?> read = ProxyProtocol.ReadAsync(server, timeout.Token);
        foreach (byte b in header)
        {
            await client.SendAsync(new[] { b });
        }

        await client.SendAsync("next"u8.ToArray());
        Assert.Equal("192.0.2.7:40000", (await read).ToString());
        var rest = new byte[4];
        Assert.Equal(4, await server.ReceiveAsync(rest, SocketFlags.None, timeout.Token));
        Assert.Equal("next"u8.ToArray(), rest);
    }

    private static byte[] Header(byte versionCommand, byte family, byte[] block) =>
        [.. Signature, versionCommand, family, (byte)(block.Length >> 8), (byte)block.Length, .. block];
}
