using System.Buffers;
using System.Buffers.Binary;

namespace TurnServer.Stun;

/// <summary>What <see cref="StreamFramer.TryReadFrame"/> found at the start of a stream buffer.</summary>
public enum FrameStatus
{
    /// <summary>A whole frame was cut off the front of the buffer.</summary>
    Frame,

    /// <summary>The frame is not complete yet; read more and try again.</summary>
    NeedMoreData,

    /// <summary>The first byte is neither STUN nor ChannelData: a byte stream cannot be resynchronised, so close it.</summary>
    Invalid,
}

/// <summary>
/// Cuts STUN messages and ChannelData messages out of a TCP or TLS byte stream (RFC 8656 section 12.5): a STUN
/// message is 20 bytes plus its length field; a ChannelData message is 4 bytes plus its length field, padded to a
/// multiple of 4 bytes. Works on <see cref="ReadOnlySequence{T}"/> so frames split across segments need no copy
/// until the caller wants contiguous bytes.
/// </summary>
public static class StreamFramer
{
    /// <summary>
    /// Tries to cut one frame off the front of <paramref name="buffer"/>. On <see cref="FrameStatus.Frame"/>,
    /// <paramref name="frame"/> is the frame (padding included for ChannelData) and <paramref name="buffer"/> the rest.
    /// </summary>
    public static FrameStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame, out PacketKind kind)
    {
        frame = default;
        kind = PacketKind.Unknown;
        if (buffer.Length < 4)
        {
            return FrameStatus.NeedMoreData;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        kind = PacketClassifier.Classify(header);
        int length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        long frameLength = kind switch
        {
            PacketKind.Stun => StunConstants.HeaderLength + length,
            PacketKind.ChannelData => ChannelData.GetStreamFrameLength(length),
            _ => -1,
        };
        if (frameLength < 0)
        {
            return FrameStatus.Invalid;
        }

        if (buffer.Length < frameLength)
        {
            return FrameStatus.NeedMoreData;
        }

        frame = buffer.Slice(0, frameLength);
        buffer = buffer.Slice(frameLength);
        return FrameStatus.Frame;
    }
}
