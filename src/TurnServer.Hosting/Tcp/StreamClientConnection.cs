using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Tls;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// One TURN client over TCP or TLS (RFC 8656 section 3.1). Reads through a pipe and cuts frames with
/// <see cref="StreamFramer"/>; the same engine handles them as over UDP. Writes from any thread (answers from this
/// loop, relayed peer data from relay loops) go into an outbound pipe under a lock and one loop copies it to the
/// stream, so an <see cref="System.Net.Security.SslStream"/> never sees two writers. When the client cannot keep
/// up, relayed data is dropped and counted rather than buffered without bound. Closing the connection deletes its
/// allocation; deleting the allocation closes the connection. After an RFC 6062 ConnectionBind the connection stops
/// framing and relays bytes as-is to and from its peer data connection, with backpressure instead of drops, since a
/// byte stream must not lose bytes; either one ending ends the other, after the last bytes. A closing connection still
/// writes what is queued, as long as the client takes <see cref="CloseMinBytes"/> of it every <see cref="CloseTimeout"/>;
/// then it is reset, so a client that stops reading cannot hold its socket. One that ends as the protocol does (the
/// client's end, its last request answered, its peer's end) then closes gracefully, see <see cref="LingerAsync"/>.
/// </summary>
internal sealed partial class StreamClientConnection : ClientConnection, IClientConnectionSource, IDataConnectionBinder
{
    /// <summary>
    /// How long a closing connection waits for the client to take <see cref="CloseMinBytes"/> of what is still queued
    /// for it (the answer to a Refresh that deleted its allocation, a data connection's last bytes) before it is reset:
    /// a slow reader gets everything, one that stopped reading is cut off. Also how long a graceful close waits for the
    /// client's end, and a data connection whose client ended waits for more from its peer. Under the host's 5-second
    /// shutdown timeout.
    /// </summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Bytes a closing connection must write every <see cref="CloseTimeout"/> (8 KB/s), or all that is left.</summary>
    public const int CloseMinBytes = 16 * 1024;

    private const int ResponseBufferSize = 2048;
    private const int OutboundPauseBytes = 1 << 20;

    /// <summary>Largest single write, so that progress shows every <see cref="CloseMinBytes"/> (as a TLS record's 16 KB).</summary>
    private const int MaxWriteBytes = CloseMinBytes;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly TurnEngine _engine;
    private readonly ILogger _logger;
    private readonly HttpOnTurnPort? _http;
    private readonly Pipe _outbound = new(new PipeOptions(
        pauseWriterThreshold: OutboundPauseBytes,
        resumeWriterThreshold: OutboundPauseBytes / 2,
        useSynchronizationContext: false));

    private readonly Lock _writeLock = new();
    private readonly CancellationTokenSource _closed = new();
    private Task _pendingFlush = Task.CompletedTask;
    private int _closing;
    private long _bytesWritten;
    private int _requestThread = -1;
    private bool _closeAfterRequest;

    /// <summary>Set when the connection ends as the protocol does (the client's end, its last answer, its peer's end): closed gracefully.</summary>
    private volatile bool _lingerOnClose;

    private PeerDataConnection? _boundPeer;
    private Allocation? _boundAllocation;

    /// <summary>Set once what is sent is no longer TURN messages (RFC 6062 data, an HTTP answer): written as it is, not a record per message.</summary>
    private volatile bool _raw;

    /// <summary>
    /// Serves a client accepted on <paramref name="socket"/>; <paramref name="stream"/> is the socket's stream or the TLS stream
    /// over it. <paramref name="time"/> stamps <see cref="ConnectedAt"/>. With <paramref name="http"/>, a connection that opens
    /// with an HTTP request gets its answer, if any, and is closed.
    /// </summary>
    public StreamClientConnection(Socket socket, Stream stream, FiveTuple fiveTuple, TurnEngine engine, ILogger logger, TimeProvider time, HttpOnTurnPort? http = null)
    {
        _socket = socket;
        _http = http;
        _stream = stream;
        FiveTuple = fiveTuple;
        _engine = engine;
        _logger = logger;
        ConnectedAt = time.GetTimestamp();
    }

    /// <summary>The client's address, the listener's address, and TCP or TLS.</summary>
    public FiveTuple FiveTuple { get; }

    /// <summary>When the connection was accepted, as a <see cref="TimeProvider.GetTimestamp"/> value.</summary>
    public long ConnectedAt { get; }

    /// <summary>True while an allocation made on this connection exists (checked for <c>max-allocate-timeout</c>).</summary>
    public bool HasAllocation => _engine.Allocations.TryGet(FiveTuple, out Allocation allocation) && allocation.Client == this;

    /// <summary>True once this is an RFC 6062 client data connection.</summary>
    public bool IsDataConnection => Volatile.Read(ref _boundPeer) is not null;

    /// <inheritdoc />
    public override TransportProtocol Protocol => FiveTuple.Protocol;

    /// <inheritdoc />
    public override string? TlsProtocol => _stream is SslStream tls ? CipherList.OpenSslName(tls.SslProtocol) : null;

    /// <inheritdoc />
    public override string? TlsCipher => _stream is SslStream tls ? CipherList.OpenSslName(tls.NegotiatedCipherSuite) : null;

    /// <inheritdoc />
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => this;

    /// <inheritdoc />
    public override bool Send(ReadOnlySpan<byte> frame)
    {
        lock (_writeLock)
        {
            // A flush that has not completed means the client is not reading: drop rather than queue without bound.
            if (!_pendingFlush.IsCompleted || _closed.IsCancellationRequested)
            {
                _engine.Counters.Drop(DropReason.SendFailed);
                return false;
            }

            _outbound.Writer.Write(frame);
            ValueTask<FlushResult> flush = _outbound.Writer.FlushAsync();
            if (!flush.IsCompletedSuccessfully)
            {
                _pendingFlush = flush.AsTask();
            }

            return true;
        }
    }

    /// <inheritdoc />
    public void BindPeer(IPeerDataConnection peer, Allocation allocation)
    {
        _boundAllocation = allocation;
        _raw = true;
        Volatile.Write(ref _boundPeer, (PeerDataConnection)peer);
    }

    /// <inheritdoc />
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

    /// <summary>
    /// Closes the connection from any thread; the loops end and the allocation, if any, is deleted. What is queued is
    /// still written, for <see cref="CloseTimeout"/> at most.
    /// </summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closing, 1) == 0)
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
            _lingerOnClose = true; // not cut short by a Close from elsewhere (the allocation's end, the server stopping)
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
            _engine.Allocations.ConnectionClosed(FiveTuple, this);

            // A write the client makes no room for never ends by itself: resetting the socket fails it. Bounded, since
            // nothing is queued after Close and each round writes at least CloseMinBytes.
            long written;
            do
            {
                written = Volatile.Read(ref _bytesWritten);
                await sending.WaitAsync(CloseTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            while (!sending.IsCompleted && Volatile.Read(ref _bytesWritten) - written >= CloseMinBytes);

            Task lingering = Task.CompletedTask;
            if (!sending.IsCompleted)
            {
                LogStalled(_logger, FiveTuple.ToString(), CloseMinBytes / 1024, CloseTimeout.TotalSeconds);
                Reset();
                await sending.WaitAsync(CloseTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // the write fails at once; bounded all the same
            }
            else if (_lingerOnClose)
            {
                lingering = LingerAsync();
                await lingering.WaitAsync(CloseTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            _socket.Dispose(); // fails what still lingers: a close_notify the client makes no room for, a read it keeps feeding
            await lingering.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Closes gracefully (a lingering close, as web servers do): the server's end, after a TLS close_notify, follows all
    /// it wrote, and what the client still sends is read and dropped until its own end. Closing a socket with bytes
    /// unread makes Linux send an RST, which throws away what the client has not yet received. Bounded by the caller.
    /// </summary>
    private async Task LingerAsync()
    {
        if (_stream is SslStream tls)
        {
            await tls.ShutdownAsync().ConfigureAwait(false);
        }

        _socket.Shutdown(SocketShutdown.Send);
        byte[] discard = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (await _socket.ReceiveAsync(discard, SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(discard); // the read has ended, even when the socket was closed under it
        }
    }

    /// <summary>
    /// Closes the connection at once, from any thread: the socket is closed with an RST (SO_LINGER 0), so pending
    /// writes fail and the kernel drops what it still holds, and <see cref="RunAsync"/> ends.
    /// </summary>
    public void Reset()
    {
        Close();
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // reset by the client or closed already: closing is all that is left
        }

        _socket.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        // Zero-byte reads wait for bytes before a buffer is taken, so an idle connection holds none (SslStream too).
        PipeReader reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16384, leaveOpen: true, useZeroByteReads: true));
        var scratch = new SendScratch();
        bool probing = _http is not null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(_closed.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (probing)
                {
                    switch (HttpOnTurnPort.Probe(buffer, out string requestLine))
                    {
                        case HttpProbe.NeedMore when !result.IsCompleted:
                            reader.AdvanceTo(buffer.Start, buffer.End);
                            continue;
                        case HttpProbe.Http or HttpProbe.NeedMore:
                            _engine.Counters.Drop(DropReason.UnknownPacket);
                            if (_http!.Answer(requestLine) is { } answer)
                            {
                                _raw = true;
                                Send(answer);
                            }

                            return;
                        default:
                            probing = false;
                            break;
                    }
                }

                FrameStatus status;
                while ((status = StreamFramer.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame, out PacketKind kind)) == FrameStatus.Frame)
                {
                    HandleFrame(frame, kind, scratch);
                    if (_closeAfterRequest)
                    {
                        return;
                    }

                    if (_boundPeer is not null)
                    {
                        await RelayDataAsync(reader, buffer, _boundPeer, _boundAllocation!).ConfigureAwait(false);
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

    /// <summary>
    /// Hands one frame to the engine. Buffers come from the shared pool only while needed (a frame split across
    /// pipe segments, a STUN answer), so an idle connection holds none: thousands of TCP clients stay cheap.
    /// </summary>
    private void HandleFrame(in ReadOnlySequence<byte> frame, PacketKind kind, SendScratch scratch)
    {
        byte[]? joined = null;
        ReadOnlySpan<byte> bytes = frame.IsSingleSegment ? frame.FirstSpan : Join(frame, out joined);
        try
        {
            if (kind == PacketKind.ChannelData)
            {
                _engine.ProcessChannelData(bytes, FiveTuple);
            }
            else
            {
                Answer(bytes, scratch);
            }
        }
        finally
        {
            if (joined is not null)
            {
                ArrayPool<byte>.Shared.Return(joined);
            }
        }
    }

    private void Answer(ReadOnlySpan<byte> request, SendScratch scratch)
    {
        byte[] response = ArrayPool<byte>.Shared.Rent(ResponseBufferSize);
        Volatile.Write(ref _requestThread, Environment.CurrentManagedThreadId);
        try
        {
            int length = _engine.ProcessStun(request, FiveTuple, this, scratch, response);
            if (length > 0)
            {
                Send(response.AsSpan(0, length));
            }
        }
        finally
        {
            Volatile.Write(ref _requestThread, -1);
            ArrayPool<byte>.Shared.Return(response);
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
                if (FiveTuple.Protocol == TransportProtocol.Tls && !_raw)
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
                    while (!buffer.IsEmpty)
                    {
                        ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(buffer.Length, MaxWriteBytes));
                        await WriteAsync(chunk).ConfigureAwait(false);
                        buffer = buffer.Slice(chunk.End);
                    }
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
        catch (Exception e)
        {
            // RunAsync awaits this loop in its finally: nothing may escape it, or the connection would not be disposed.
            LogConnectionFailed(_logger, e, FiveTuple.ToString());
            Close();
        }
        finally
        {
            await outbound.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// RFC 6062 section 5.4: bytes from the client go as-is to the peer, starting with any that followed the
    /// ConnectionBind request, and bytes from the peer go as-is to the client, until either side closes.
    /// </summary>
    private async Task RelayDataAsync(PipeReader client, ReadOnlySequence<byte> leftover, PeerDataConnection peer, Allocation allocation)
    {
        // The peer connection closes with its allocation too, and neither copy may then wait on it: one reads the
        // client, the other may wait for room in a queue the client never empties.
        using CancellationTokenRegistration peerClosed = peer.Closed.UnsafeRegister(static c => ((StreamClientConnection)c!).Close(), this);
        Task fromPeer = CopyFromPeerAsync(peer, allocation);
        try
        {
            await CopyToPeerAsync(client, leftover, peer, allocation).ConfigureAwait(false);

            // The client ended: the peer gets that end behind the bytes still queued for it, and the client the peer's
            // last bytes, until the peer ends too or, for CloseTimeout, none reach the client. Closing the peer's socket
            // with its bytes unread would send an RST, which throws away what the peer has not yet received.
            peer.Socket.Shutdown(SocketShutdown.Send);
            long written;
            do
            {
                written = Volatile.Read(ref _bytesWritten);
                await fromPeer.WaitAsync(CloseTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            while (!fromPeer.IsCompleted && Volatile.Read(ref _bytesWritten) != written);
        }
        finally
        {
            peer.Dispose();
            allocation.ReleaseTcpPeer(peer.PeerAddress);
            await fromPeer.ConfigureAwait(false);
        }
    }

    private async Task CopyToPeerAsync(PipeReader client, ReadOnlySequence<byte> buffer, PeerDataConnection peer, Allocation allocation)
    {
        while (true)
        {
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                await peer.Stream.WriteAsync(segment, _closed.Token).ConfigureAwait(false);
            }

            // Atomic: the allocation's other data connections and its control connection count into the same fields.
            Interlocked.Increment(ref allocation.ClientPacketsReceived);
            Interlocked.Add(ref allocation.ClientBytesReceived, buffer.Length);
            Interlocked.Increment(ref allocation.PeerPacketsSent);
            Interlocked.Add(ref allocation.PeerBytesSent, buffer.Length);
            client.AdvanceTo(buffer.End);
            ReadResult result = await client.ReadAsync(_closed.Token).ConfigureAwait(false);
            buffer = result.Buffer;
            if (result.IsCompleted && buffer.IsEmpty)
            {
                return;
            }
        }
    }

    private async Task CopyFromPeerAsync(PeerDataConnection peer, Allocation allocation)
    {
        byte[] buffer = new byte[16384];
        try
        {
            while (true)
            {
                int read = await peer.Stream.ReadAsync(buffer, _closed.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    _lingerOnClose = true; // the peer ended: so does the client's side, once it has every byte
                    break;
                }

                Interlocked.Increment(ref allocation.PeerPacketsReceived);
                Interlocked.Add(ref allocation.PeerBytesReceived, read);
                Interlocked.Increment(ref allocation.ClientPacketsSent);
                Interlocked.Add(ref allocation.ClientBytesSent, read);
                ValueTask<FlushResult> flush;
                lock (_writeLock)
                {
                    if (_closed.IsCancellationRequested)
                    {
                        break;
                    }

                    _outbound.Writer.Write(buffer.AsSpan(0, read));
                    flush = _outbound.Writer.FlushAsync(_closed.Token);
                }

                // Awaiting the flush is the backpressure: a slow client slows the peer instead of losing bytes.
                if ((await flush.ConfigureAwait(false)).IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // the peer or the client went away
        }
        finally
        {
            Close();
        }
    }

    private async ValueTask WriteAsync(ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            await _stream.WriteAsync(bytes.First).ConfigureAwait(false);
        }
        else
        {
            // A message split across pipe segments still goes out as one write (one TLS record).
            byte[] joined = ArrayPool<byte>.Shared.Rent((int)bytes.Length);
            try
            {
                bytes.CopyTo(joined);
                await _stream.WriteAsync(joined.AsMemory(0, (int)bytes.Length)).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(joined); // a client gone mid-write fails it
            }
        }

        Volatile.Write(ref _bytesWritten, _bytesWritten + bytes.Length); // only this loop writes it; RunAsync reads it
    }

    private static ReadOnlySpan<byte> Join(in ReadOnlySequence<byte> frame, out byte[] joined)
    {
        joined = ArrayPool<byte>.Shared.Rent((int)frame.Length);
        frame.CopyTo(joined);
        return joined.AsSpan(0, (int)frame.Length);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection {FiveTuple} reset while closing: the client took less than {Kilobytes} KB of what was queued for it in {Seconds} s")]
    private static partial void LogStalled(ILogger logger, string fiveTuple, int kilobytes, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Connection {FiveTuple} failed")]
    private static partial void LogConnectionFailed(ILogger logger, Exception exception, string fiveTuple);
}
