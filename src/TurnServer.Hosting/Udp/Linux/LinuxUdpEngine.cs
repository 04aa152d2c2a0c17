using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// The Linux UDP engine: one worker thread per core, each waiting on its own epoll set that holds one SO_REUSEPORT
/// socket of every UDP listener plus the relay sockets of the allocations it created. A worker moves datagrams in
/// batches (recvmmsg, then sendmmsg per destination socket), so a busy relay costs a fraction of a system call per
/// packet instead of two or three, and an idle allocation costs a socket and a table slot, not a receive loop and
/// buffer of its own. Started before the listeners and stopped after them; stopping closes every socket it holds.
/// </summary>
internal sealed partial class LinuxUdpEngine : IHostedService, IDisposable
{
    // Relay sockets whose close was posted to their worker and has not run yet, by local address: a bind that meets
    // one (EADDRINUSE) has found this server's own port on its way back to the pool, not another program's.
    private readonly ConcurrentDictionary<TransportAddress, byte> _closing = new();
    private readonly LinuxUdpWorker[] _workers;
    private readonly ILogger _logger;
    private int _nextWorker;
    private int _nextGroupId;
    private bool _started;
    private int _disposed;

    /// <summary>
    /// Creates <paramref name="workerCount"/> workers (0 or less: one per processor); they start with <see cref="Start"/>.
    /// <paramref name="failed"/> hears of a worker whose epoll set failed (its thread has ended).
    /// </summary>
    public LinuxUdpEngine(ServerCounters counters, ILogger logger, int workerCount = 0, Action<string>? failed = null)
    {
        _logger = logger;
        if (workerCount <= 0)
        {
            workerCount = Environment.ProcessorCount;
        }

        _workers = new LinuxUdpWorker[workerCount];
        for (int i = 0; i < workerCount; i++)
        {
            _workers[i] = new LinuxUdpWorker(i, counters, logger, failed);
        }
    }

    /// <summary>Notes that the relay socket bound to <paramref name="address"/> is to be closed by its worker.</summary>
    internal void ClosePosted(in TransportAddress address) => _closing[address] = 0;

    /// <summary>Notes that the relay socket bound to <paramref name="address"/> is closed.</summary>
    internal void Closed(in TransportAddress address) => _closing.TryRemove(address, out _);

    /// <summary>Whether a relay socket bound to <paramref name="address"/> waits for its worker to close it.</summary>
    internal bool IsClosing(in TransportAddress address) => _closing.ContainsKey(address);

    /// <summary>Worker threads, and so sockets per listener.</summary>
    public int WorkerCount => _workers.Length;

    /// <summary>The workers (diagnostics and tests).</summary>
    internal IReadOnlyList<LinuxUdpWorker> Workers => _workers;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Stop();
        return Task.CompletedTask;
    }

    /// <summary>Starts the workers (idempotent).</summary>
    public void Start()
    {
        lock (_workers)
        {
            if (_started)
            {
                return;
            }

            _started = true;
            foreach (LinuxUdpWorker worker in _workers)
            {
                worker.Start();
            }

            LogStarted(_logger, _workers.Length);
        }
    }

    /// <summary>Stops the workers and closes every socket they hold; returns when they have.</summary>
    public void Stop()
    {
        foreach (LinuxUdpWorker worker in _workers)
        {
            worker.RequestStop();
        }

        foreach (LinuxUdpWorker worker in _workers)
        {
            worker.Join();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Stop();
        foreach (LinuxUdpWorker worker in _workers)
        {
            worker.Dispose();
        }
    }

    /// <summary>An id for a new listener group, indexing the workers' per-listener state.</summary>
    internal int NewGroupId() => Interlocked.Increment(ref _nextGroupId) - 1;

    /// <summary>Hands socket i of <paramref name="group"/> to worker i.</summary>
    internal void AddListener(LinuxUdpListenerGroup group)
    {
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i].AddListener(group, group.Sockets[i]);
        }
    }

    /// <summary>Takes the group's sockets out of the workers and closes them.</summary>
    internal void RemoveListener(LinuxUdpListenerGroup group)
    {
        foreach (LinuxUdpWorker worker in _workers)
        {
            worker.RemoveListener(group);
        }
    }

    /// <summary>
    /// The worker for a new relay socket: the calling worker when an Allocate is being handled on one (so the
    /// allocation's traffic in both directions stays on one thread and core), else the next in turn.
    /// </summary>
    internal LinuxUdpWorker ChooseWorker()
    {
        LinuxUdpWorker? current = LinuxUdpWorker.Current;
        if (current is not null && Array.IndexOf(_workers, current) >= 0)
        {
            return current;
        }

        return _workers[(int)((uint)Interlocked.Increment(ref _nextWorker) % (uint)_workers.Length)];
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "UDP engine: {Workers} epoll workers with recvmmsg/sendmmsg")]
    private static partial void LogStarted(ILogger logger, int workers);
}
