using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Metrics;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Services;

/// <summary>
/// coTURN's <c>redis-statsdb</c>: tells Redis about every allocation in coTURN's keys and words, so dashboards and
/// billing that read them keep working. Each allocation has the prefix
/// <c>turn/realm/&lt;realm&gt;/user/&lt;user&gt;/allocation/&lt;session, 18 digits&gt;/</c> (<c>turn/user/...</c> without a realm):
/// <list type="bullet">
/// <item><c>status</c> is SET and PUBLISHed as <c>new lifetime=600, type=UDP, local=&lt;server&gt;, remote=&lt;client&gt;,
/// ssl=NONE, cipher=NONE</c> when the allocation is made and <c>refreshed lifetime=...</c> (same fields) on each Refresh;
/// at the end it is DELeted and <c>deleted</c> PUBLISHed.</item>
/// <item><c>traffic</c> and <c>traffic/peer</c> PUBLISH <c>rcvp=, rcvb=, sentp=, sentb=</c>, what was counted with the
/// client and with peers since the last report, once that reaches <see cref="ReportPackets"/> packets (checked every
/// second) and when the allocation ends; <c>total_traffic</c> and <c>total_traffic/peer</c> PUBLISH the allocation's
/// totals after <c>deleted</c>.</item>
/// </list>
/// Records queue in a bounded buffer that one background task writes, so a slow or unreachable Redis never holds a
/// client up: records that find the buffer full, or whose write fails, are dropped and counted.
/// </summary>
internal sealed partial class RedisStatsPublisher : IAllocationObserver, IHostedService, IDisposable
{
    /// <summary>Packets (client and peer, both ways) after which coTURN publishes an allocation's traffic.</summary>
    public const long CoturnReportPackets = 4096;

    private const int QueueCapacity = 65_536;
    private const int BatchSize = 512;
    private static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly RedisStatsDatabase _database;
    private readonly string _realm;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<StatsRecord> _queue = Channel.CreateBounded<StatsRecord>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _stopping = new();

    // Guards the reports and the queue's order: an allocation's records leave in the order its events happened.
    private readonly Lock _sync = new();
    private readonly Dictionary<Allocation, Reported> _live = new(ReferenceEqualityComparer.Instance);
    private ITimer? _timer;
    private Task _writer = Task.CompletedTask;
    private long _written;
    private long _dropped;

    /// <summary>Publishes the allocations of <paramref name="realm"/> to <paramref name="database"/>, which it disposes.</summary>
    public RedisStatsPublisher(RedisStatsDatabase database, string realm, TimeProvider time, ILogger logger)
    {
        _database = database;
        _realm = realm;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Packets (client and peer, both ways) after which an allocation's traffic is published: <see cref="CoturnReportPackets"/>.
    /// Tests lower it so that a short, gently paced session is reported mid-way.
    /// </summary>
    internal long ReportPackets { get; set; } = CoturnReportPackets;

    /// <summary>Records Redis has taken.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Records dropped: the buffer was full, or Redis could not be reached or refused them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Adds this publisher's counters to the metrics.</summary>
    public void AddMetrics(TurnMetrics metrics)
    {
        metrics.Meter.CreateObservableCounter("turnserver_redis_statsdb_records_total", () => Written, description: "Records (SET, DEL, PUBLISH) written to the redis-statsdb");
        metrics.Meter.CreateObservableCounter("turnserver_redis_statsdb_records_dropped_total", () => Dropped, description: "redis-statsdb records dropped because the buffer was full or Redis failed");
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        LogDatabase(_logger, _database.Description);
        _writer = Task.Run(() => WriteAsync(_stopping.Token), CancellationToken.None);
        _timer = _time.CreateTimer(_ => ReportTraffic(), null, ReportInterval, ReportInterval);
        return Task.CompletedTask;
    }

    /// <summary>Stops reporting and writes what is queued (the deletions of shutdown among it) while the host allows.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        lock (_sync)
        {
            _queue.Writer.TryComplete();
        }

        try
        {
            await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void OnCreated(Allocation allocation)
    {
        lock (_sync)
        {
            _live[allocation] = new Reported();
            SetStatus(allocation, "new", allocation.SecondsToExpiry);
        }
    }

    /// <inheritdoc />
    public void OnRefreshed(Allocation allocation, uint lifetime)
    {
        lock (_sync)
        {
            SetStatus(allocation, "refreshed", lifetime);
        }
    }

    /// <inheritdoc />
    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        string prefix = Prefix(allocation);
        TrafficTotals total = TrafficTotals.Of(allocation);
        lock (_sync)
        {
            _live.Remove(allocation, out Reported? reported);
            TrafficTotals since = total - (reported?.Last ?? default);

            // As coTURN: a last report when the client side moved since the previous one.
            if (since.ClientPacketsReceived != 0 || since.ClientPacketsSent != 0)
            {
                PublishTraffic(prefix + "traffic", since);
            }

            Enqueue(new StatsRecord(StatsCommand.Delete, prefix + "status", string.Empty));
            Enqueue(new StatsRecord(StatsCommand.Publish, prefix + "status", "deleted"));
            PublishTraffic(prefix + "total_traffic", total);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _timer?.Dispose();
        _queue.Writer.TryComplete(); // ends the writer if the host never got to stop it (a failed start)
        _stopping.Dispose();
        _database.Dispose();
    }

    /// <summary>The client-side and peer-side counts of <paramref name="traffic"/> as coTURN words them.</summary>
    private static (string Client, string Peer) TrafficMessages(in TrafficTotals traffic) => (
        Counts(traffic.ClientPacketsReceived, traffic.ClientBytesReceived, traffic.ClientPacketsSent, traffic.ClientBytesSent),
        Counts(traffic.PeerPacketsReceived, traffic.PeerBytesReceived, traffic.PeerPacketsSent, traffic.PeerBytesSent));

    /// <summary>The value of an allocation's status key: <paramref name="status"/> (new or refreshed) and its connection.</summary>
    internal static string StatusMessage(Allocation allocation, string status, long lifetime)
    {
        FiveTuple fiveTuple = allocation.FiveTuple;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{status} lifetime={lifetime}, type={TurnMetrics.TypeLabel(fiveTuple.Protocol)}, local={fiveTuple.ServerAddress}, remote={fiveTuple.ClientAddress}, ssl={allocation.Client.TlsProtocol ?? "NONE"}, cipher={allocation.Client.TlsCipher ?? "NONE"}");
    }

    private static string Counts(long receivedPackets, long receivedBytes, long sentPackets, long sentBytes) =>
        string.Create(CultureInfo.InvariantCulture, $"rcvp={receivedPackets}, rcvb={receivedBytes}, sentp={sentPackets}, sentb={sentBytes}");

    /// <summary>The key prefix of an allocation, ending in <c>/</c>.</summary>
    private string Prefix(Allocation allocation)
    {
        string session = allocation.SessionId.ToString("D18", CultureInfo.InvariantCulture);
        string user = allocation.Username ?? string.Empty;
        return _realm.Length > 0 ? $"turn/realm/{_realm}/user/{user}/allocation/{session}/" : $"turn/user/{user}/allocation/{session}/";
    }

    private void SetStatus(Allocation allocation, string status, long lifetime)
    {
        string key = Prefix(allocation) + "status";
        string value = StatusMessage(allocation, status, lifetime);
        Enqueue(new StatsRecord(StatsCommand.Set, key, value));
        Enqueue(new StatsRecord(StatsCommand.Publish, key, value));
    }

    private void PublishTraffic(string channel, in TrafficTotals traffic)
    {
        (string client, string peer) = TrafficMessages(traffic);
        Enqueue(new StatsRecord(StatsCommand.Publish, channel, client));
        Enqueue(new StatsRecord(StatsCommand.Publish, channel + "/peer", peer));
    }

    private void Enqueue(StatsRecord record)
    {
        if (!_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Publishes the traffic of each live allocation that has counted <see cref="ReportPackets"/> since its last report.</summary>
    private void ReportTraffic()
    {
        lock (_sync)
        {
            foreach ((Allocation allocation, Reported reported) in _live)
            {
                TrafficTotals now = TrafficTotals.Of(allocation);
                TrafficTotals since = now - reported.Last;
                if (since.Packets >= ReportPackets)
                {
                    PublishTraffic(Prefix(allocation) + "traffic", since);
                    reported.Last = now;
                }
            }
        }
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        var batch = new List<StatsRecord>(BatchSize);
        bool failing = false;
        try
        {
            while (await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (batch.Count < BatchSize && _queue.Reader.TryRead(out StatsRecord record))
                {
                    batch.Add(record);
                }

                try
                {
                    await _database.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                    Interlocked.Add(ref _written, batch.Count);
                    if (failing)
                    {
                        failing = false;
                        LogRecovered(_logger, _database.Description);
                    }
                }
                catch (IOException e)
                {
                    Interlocked.Add(ref _dropped, batch.Count);
                    batch.Clear();
                    if (!failing)
                    {
                        failing = true;
                        LogFailing(_logger, _database.Description, e.Message);
                    }

                    // Not a spin while Redis is down: what queues meanwhile waits, or overflows and is counted.
                    await Task.Delay(RetryDelay, _time, cancellationToken).ConfigureAwait(false);
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Interlocked.Add(ref _dropped, batch.Count + _queue.Reader.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis statistics database: {Database}")]
    private static partial void LogDatabase(ILogger logger, string database);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis statistics database {Database} failed ({Error}): allocation events are dropped until it answers again")]
    private static partial void LogFailing(ILogger logger, string database, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis statistics database {Database} answers again")]
    private static partial void LogRecovered(ILogger logger, string database);

    /// <summary>The traffic an allocation had when last reported.</summary>
    private sealed class Reported
    {
        public TrafficTotals Last;
    }
}
