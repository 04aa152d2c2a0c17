using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Infrastructure;

/// <summary>STUN requests handed straight to an engine, without a listener.</summary>
internal static class EngineRequests
{
    /// <summary>Writes a request's attributes.</summary>
    public delegate void Attributes(ref StunMessageWriter writer);

    /// <summary>Sends a request of <paramref name="method"/> from <paramref name="fiveTuple"/>; returns the answer, which must parse.</summary>
    public static StunMessageReader Exchange(TurnEngine engine, in FiveTuple fiveTuple, StunMethod method, Attributes attributes)
    {
        byte[] request = new byte[256];
        var writer = new StunMessageWriter(request, method, StunMessageClass.Request, TransactionId.NewRandom());
        attributes(ref writer);
        byte[] packet = writer.Written.ToArray();
        byte[] response = new byte[2048];
        int length = engine.ProcessMessage(PacketKind.Stun, packet, fiveTuple, new SilentClient(fiveTuple.Protocol), new SendScratch(), response);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response.AsSpan(0, length), out StunMessageReader message));
        return message;
    }

    /// <summary>0 for a success answer, else its error code.</summary>
    public static int Code(in StunMessageReader answer) =>
        answer.Class == StunMessageClass.SuccessResponse ? 0 : answer.TryGetErrorCode(out int code, out _) ? code : -1;
}

/// <summary>A client connection that drops what is sent to it.</summary>
internal sealed class SilentClient(TransportProtocol protocol) : ClientConnection, IClientConnectionSource
{
    /// <inheritdoc />
    public override TransportProtocol Protocol => protocol;

    /// <inheritdoc />
    public override bool Send(ReadOnlySpan<byte> frame) => true;

    /// <inheritdoc />
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => this;
}
