using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tcp;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Tcp;

/// <summary>One TCP or TLS client connection, over a stream the test controls.</summary>
public sealed class StreamClientConnectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Regression: each idle connection held a 16 KB buffer through its pending read, as the pipe rented one before
    /// every read. It must wait for bytes with a zero-byte read, and take a buffer only once they are in.
    /// </summary>
    [Fact]
    public async Task An_idle_connection_waits_for_bytes_with_a_zero_byte_read()
    {
        var stream = new ControlledStream();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var fiveTuple = new FiveTuple(new TransportAddress(IPAddress.Loopback, 40000), new TransportAddress(IPAddress.Loopback, 3478), TransportProtocol.Tcp);
        var connection = new StreamClientConnection(socket, stream, fiveTuple, TestEngines.For(new TurnServerSettings()), NullLogger.Instance, TimeProvider.System);

        Task run = connection.RunAsync();
        Assert.Equal(0, await stream.FirstRead.WaitAsync(Timeout));

        stream.End();
        await run.WaitAsync(Timeout);
    }

    /// <summary>A stream whose reads wait until <see cref="End"/>, then find its end; it records how much the first read asked for.</summary>
    private sealed class ControlledStream : Stream
    {
        private readonly TaskCompletionSource<int> _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<int> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The length of the buffer the first read was given.</summary>
        public Task<int> FirstRead => _firstRead.Task;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public void End() => _ended.TrySetResult(0);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _firstRead.TrySetResult(buffer.Length);
            return new ValueTask<int>(_ended.Task.WaitAsync(cancellationToken));
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
