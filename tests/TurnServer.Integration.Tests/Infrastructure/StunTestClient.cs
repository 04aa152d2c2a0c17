using TurnServer.Stun;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// A minimal TURN client built on the project's codec, over any transport: subclasses send raw bytes and receive
/// whole messages (datagrams, or frames cut from a stream).
/// </summary>
internal abstract class StunTestClient : IDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    protected StunTestClient(string user, string password)
    {
        User = user;
        Key = MessageIntegrity.ComputeLongTermKey(user, TestServer.Realm, password);
    }

    public delegate void Attributes(ref StunMessageWriter writer);

    public string User { get; }

    public byte[] Key { get; }

    public string? Nonce { get; private set; }

    public abstract Task SendRawAsync(ReadOnlyMemory<byte> bytes);

    /// <summary>The next message from the server: a STUN message or a ChannelData message (padding included on streams).</summary>
    public abstract Task<byte[]> ReceiveAsync();

    public abstract void Dispose();

    /// <summary>Sends a request (signed once a nonce is known) and returns its answer, retrying once after a 401 challenge or 438.</summary>
    public async Task<byte[]> RequestAsync(StunMethod method, Attributes? attributes = null, TransactionId? transactionId = null)
    {
        bool signed = Nonce is not null;
        byte[] response = await ExchangeAsync(Build(method, attributes, transactionId ?? TransactionId.NewRandom(), signed));
        int code = Code(response);
        if (code == 438 || (code == 401 && !signed))
        {
            UseNonceFrom(response);
            response = await ExchangeAsync(Build(method, attributes, TransactionId.NewRandom(), sign: true));
        }

        return response;
    }

    /// <summary>Signs from now on with the NONCE of <paramref name="challenge"/> (a 401 or 438 answer).</summary>
    public void UseNonceFrom(byte[] challenge)
    {
        StunMessageReader.TryParse(challenge, out StunMessageReader message);
        message.TryGetAttribute(StunAttributeType.Nonce, out ReadOnlySpan<byte> nonce);
        Nonce = System.Text.Encoding.UTF8.GetString(nonce);
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

    /// <summary>
    /// Sends <paramref name="request"/> and returns the answer with its transaction ID, skipping anything else; fails
    /// if only other messages (relayed data, say) come for <see cref="Timeout"/>.
    /// </summary>
    public async Task<byte[]> ExchangeAsync(byte[] request)
    {
        await SendRawAsync(request);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        do
        {
            byte[] message = await ReceiveAsync();
            if (message.Length >= 20 && message[0] < 0x40 && message.AsSpan(8, 12).SequenceEqual(request.AsSpan(8, 12)))
            {
                return message;
            }
        }
        while (waited.Elapsed < Timeout);

        throw new TimeoutException($"no answer to the request within {Timeout.TotalSeconds} s, only other messages");
    }

    public async Task<TransportAddress> AllocateAsync(Attributes? extra = null)
    {
        byte[] response = await RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) =>
        {
            if (extra is null)
            {
                w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
            }
            else
            {
                extra(ref w);
            }
        });
        Assert.Equal(0, Code(response));
        StunMessageReader.TryParse(response, out StunMessageReader message);
        Assert.True(message.VerifyMessageIntegrity(Key));
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress relayed));
        return relayed;
    }

    public async Task BindChannelAsync(ushort channel, TransportAddress peer)
    {
        byte[] response = await RequestAsync(StunMethod.ChannelBind, (ref StunMessageWriter w) =>
        {
            w.WriteChannelNumber(channel);
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, peer);
        });
        Assert.Equal(0, Code(response));
    }

    public static int Code(byte[] response)
    {
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        return message.TryGetErrorCode(out int code, out _) ? code : 0;
    }
}
