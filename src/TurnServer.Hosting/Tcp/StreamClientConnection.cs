using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// One TURN client over TCP or TLS (RFC 8656 section 3.1). Reads through a pipe and cuts frames with
/// <see cref="StreamFramer"/>; the same engine handles them as over UDP. Writes from any thread (answers from this
/// loop, relayed peer data from relay loops) go into an outbound pipe under a lock and one loop copies it to the
/// stream, so an <see cref="System.Net.Security.SslStream"/> never sees two writers. When the client cannot keep
/// up, relayed data is dropped and counted rather than buffered without bound. Closing the connection deletes its
/// allocation; deleting the allocation closes the connection.
/// </summary>
internal sealed partial class StreamClientConnection : ClientConnection, IClientConnectionSource
{
    private const int ResponseBufferSize = 2048;
    private const int OutboundPauseBytes = 1 << 20;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly TurnEngine _engine;
    private readonly ILogger _logger;
    private readonly Pipe _outbound = new(new PipeOptions(
        pauseWriterThreshold: OutboundPauseBytes,
        resumeWriterThreshold: OutboundPauseBytes / 2,
        useSynchronizationContext: false));

    private readonly Lock _writeLock = new();
    private readonly CancellationTokenSource _closed = new();
    private Task _pendingFlush = Task.CompletedTask;
    private int _requestThread = -1;
    private bool _closeAfterRequest;

    public StreamClientConnection(Socket socket, Stream stream, FiveTuple fiveTuple, TurnEngine engine, ILogger logger, TimeProvider time)
    {
        _socket = socket;
        _stream = stream;
        FiveTuple = fiveTuple;
        _engine = engine;
        _logger = logger;
        ConnectedAt = time.GetTimestamp();
    }

    public FiveTuple FiveTuple { get; }

    /// <summary>When the connection was accepted, as a <see cref="TimeProvider.GetTimestamp"/> value.</summary>
    public long ConnectedAt { get; }

    public bool HasAllocation => _engine.Allocations.TryGet(FiveTuple, out Allocation allocation) && allocation.Client == this;

    public override TransportProtocol Protocol => FiveTuple.Protocol;

    public ClientConnection GetConnection(in FiveTuple fiveTuple) => this;

    public override void Send(ReadOnlySpan<byte> frame)
    {
        lock (_writeLock)
        {
            // A flush that has not completed means the client is not reading: drop rather than queue without bound.
            if (!_pendingFlush.IsCompleted || _closed.IsCancellationRequested)
            {
                _engine.Counters.Drop(DropReason.SendFailed);
                return;
            }

            _outbound.Writer.Write(frame);
            ValueTask<FlushResult> flush = _outbound.Writer.FlushAsync();
            if (!flush.IsCompletedSuccessfully)
            {
                _pendingFlush = flush.AsTask();
            }
        }
    }

    public override void OnAllocationReleased()
    {
        // Refresh(0) arrives on this connection's own loop: let its answer go out before closing.
        if (Volatile.Read(ref _requestThread) == Environment.CurrentManagedThreadId)
        {
            _closeAfterRequest = true;
        }
        else
        {
            Close();
        }
    }

    /// <summary>Closes the connection; the loops end and the allocation, if any, is deleted.</summary>
    public void Close()
    {
        if (!_closed.IsCancellationRequested)
        {
            _closed.Cancel();
            lock (_writeLock)
            {
                _outbound.Writer.Complete();
            }
        }
    }

    /// <summary>Runs until the client or the server closes the connection. Never throws.</summary>
    public async Task RunAsync()
    {
        Task sending = SendLoopAsync();
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away or the server is stopping.
        }
        catch (Exception e)
        {
            LogConnectionFailed(_logger, e, FiveTuple.ToString());
        }
        finally
        {
            Close();
            if (_engine.Allocations.TryGet(FiveTuple, out Allocation allocation) && allocation.Client == this)
            {
                _engine.Allocations.Remove(allocation, AllocationEndReason.ConnectionClosed);
            }

            await sending.ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
            _socket.Dispose();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        PipeReader reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16384, leaveOpen: true));
        byte[] contiguous = new byte[StreamFramer.MaxFrameLength];
        byte[] response = new byte[ResponseBufferSize];
        var scratch = new SendScratch();
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(_closed.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                FrameStatus status;
                while ((status = StreamFramer.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame, out PacketKind kind)) == FrameStatus.Frame)
                {
                    ReadOnlySpan<byte> bytes = frame.IsSingleSegment ? frame.FirstSpan : Copy(frame, contiguous);
                    Handle(bytes, kind, response, scratch);
                    if (_closeAfterRequest)
                    {
                        return;
                    }
                }

                if (status == FrameStatus.Invalid)
                {
                    _engine.Counters.Drop(DropReason.UnknownPacket);
                    return;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private void Handle(ReadOnlySpan<byte> frame, PacketKind kind, byte[] response, SendScratch scratch)
    {
        if (kind == PacketKind.ChannelData)
        {
            _engine.ProcessChannelData(frame, FiveTuple);
            return;
        }

        Volatile.Write(ref _requestThread, Environment.CurrentManagedThreadId);
        int length;
        try
        {
            length = _engine.ProcessStun(frame, FiveTuple, this, scratch, response);
        }
        finally
        {
            Volatile.Write(ref _requestThread, -1);
        }

        if (length > 0)
        {
            Send(response.AsSpan(0, length));
        }
    }

    private async Task SendLoopAsync()
    {
        PipeReader outbound = _outbound.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await outbound.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (FiveTuple.Protocol == TransportProtocol.Tls)
                {
                    // One TLS record per message, as coTURN writes them: clients such as turnutils_uclient read one
                    // message per socket readiness event and stall on a second message left in their TLS buffer.
                    while (StreamFramer.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame, out _) == FrameStatus.Frame)
                    {
                        await WriteAsync(frame).ConfigureAwait(false);
                    }
                }
                else
                {
                    await WriteAsync(buffer).ConfigureAwait(false);
                    buffer = buffer.Slice(buffer.End);
                }

                outbound.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    await _stream.FlushAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            Close(); // the client stopped reading for good
        }
        finally
        {
            await outbound.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask WriteAsync(ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            await _stream.WriteAsync(bytes.First).ConfigureAwait(false);
            return;
        }

        // A message split across pipe segments still goes out as one write (one TLS record).
        byte[] joined = ArrayPool<byte>.Shared.Rent((int)bytes.Length);
        bytes.CopyTo(joined);
        await _stream.WriteAsync(joined.AsMemory(0, (int)bytes.Length)).ConfigureAwait(false);
        ArrayPool<byte>.Shared.Return(joined);
    }

    private static ReadOnlySpan<byte> Copy(in ReadOnlySequence<byte> frame, byte[] destination)
    {
        frame.CopyTo(destination);
        return destination.AsSpan(0, (int)frame.Length);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Connection {FiveTuple} failed")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception, string fiveTuple);
}
