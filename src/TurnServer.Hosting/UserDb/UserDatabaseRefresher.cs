using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.UserDb;

namespace TurnServer.Hosting.UserDb;

/// <summary>
/// Reads the user database every <see cref="Interval"/> and hands the result to the engine, off the request path.
/// The first read happens before the listeners start, so users are known from the first packet. Every read is bounded
/// by a timeout (<see cref="ReadTimeout"/> by default): a database that keeps its connection but stops answering fails
/// the read rather than stalling the loop, and the unanswered read is awaited again on the next tick rather than a new
/// one started beside it. When a read fails the last good data stays in force and the failure is logged once, with the
/// recovery logged when it comes back; unusable rows are logged once each.
/// </summary>
internal sealed partial class UserDatabaseRefresher : BackgroundService
{
    /// <summary>How stale the server's view of the database may be: a user added now can authenticate within this time.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>How long one read may take, the first one at start-up included, before it counts as failed.</summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    private readonly TurnUserDatabase _database;
    private readonly EngineConfigurator _configurator;
    private readonly string _realm;
    private readonly bool _oauth;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _readTimeout;
    private readonly HashSet<string> _reportedProblems = new(StringComparer.Ordinal);
    private TaskCompletionSource _refreshed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _failing;
    private long _users;
    private Task<UserDatabaseSnapshot>? _unanswered;

    /// <summary>
    /// Reads the users, secrets and options of <paramref name="realm"/> from <paramref name="database"/> into
    /// <paramref name="configurator"/>, and the RFC 7635 keys when <paramref name="oauth"/> (option <c>oauth</c>) is on;
    /// a read that takes longer than <paramref name="readTimeout"/> (default <see cref="ReadTimeout"/>) fails.
    /// </summary>
    public UserDatabaseRefresher(TurnUserDatabase database, EngineConfigurator configurator, string realm, bool oauth, ILogger logger, TimeProvider time, TimeSpan? readTimeout = null)
    {
        _readTimeout = readTimeout ?? ReadTimeout;
        _database = database;
        _configurator = configurator;
        _realm = realm;
        _oauth = oauth;
        _logger = logger;
        _time = time;
    }

    /// <summary>Users of the realm in the last good read.</summary>
    public long Users => Interlocked.Read(ref _users);

    /// <summary>
    /// Completes after the next successful read that starts after this call, so it covers any change written before
    /// it (tests wait on it instead of sleeping).
    /// </summary>
    public Task NextRefreshAsync() => Volatile.Read(ref _refreshed).Task;

    /// <summary>Completes after the next failed read (tests wait on it instead of polling).</summary>
    public Task NextFailureAsync() => Volatile.Read(ref _failed).Task;

    /// <inheritdoc />
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>
    /// One read: applies it to the engine, or on any failure (a timeout included) keeps the last good data and logs
    /// once. A read still unanswered from an earlier call is awaited again instead of starting another. Cancelling
    /// <paramref name="stoppingToken"/> ends it quietly.
    /// </summary>
    internal async Task RefreshAsync(CancellationToken stoppingToken)
    {
        // Whoever waits from now on waits for a later read: this one may have missed what they wrote.
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        TaskCompletionSource reading = Interlocked.Exchange(ref _refreshed, next);
        UserDatabaseSnapshot snapshot;
        Task<UserDatabaseSnapshot>? load = _unanswered;
        _unanswered = null;
        try
        {
            load ??= _database.LoadAsync(_realm, _oauth, stoppingToken);
            snapshot = await load.WaitAsync(_readTimeout, _time, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return; // stopping
        }
        catch (TimeoutException) when (load is { IsCompleted: false })
        {
            // Some drivers (StackExchange.Redis 1.x among them) ignore cancellation: keep the read rather than pile up more.
            _unanswered = load;
            Failed(next, reading, $"no answer within {_readTimeout.TotalSeconds:0.#} s");
            return;
        }
        // Whatever the driver throws (DbException, IOException, timeouts, and ArgumentException or NotSupportedException for
        // settings it refuses only when connecting) is a failed read: it must never stop the server.
        catch (Exception e)
        {
            Failed(next, reading, e.Message);
            return;
        }

        _configurator.Apply(snapshot);
        Interlocked.Exchange(ref _users, snapshot.Keys.Count);
        if (_failing)
        {
            _failing = false;
            LogReadRecovered(_logger, _database.Description);
        }

        foreach (string problem in snapshot.Problems)
        {
            if (_reportedProblems.Add(problem))
            {
                LogRowSkipped(_logger, _database.Description, problem);
            }
        }

        reading.TrySetResult();
    }

    private void Failed(TaskCompletionSource next, TaskCompletionSource reading, string reason)
    {
        // This read's waiters are answered by the next read that succeeds.
        _ = next.Task.ContinueWith(_ => reading.TrySetResult(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Interlocked.Exchange(ref _failed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        if (!_failing)
        {
            _failing = true;
            LogReadFailed(_logger, _database.Description, reason, (int)Interval.TotalSeconds);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        base.Dispose();
        _database.Dispose(); // the refresher is the database's only user in the server
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "user database {Database} cannot be read: {Reason}; keeping the users, secrets and peer lists last read, retrying every {Seconds} s")]
    private static partial void LogReadFailed(ILogger logger, string database, string reason, int seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "user database {Database} can be read again")]
    private static partial void LogReadRecovered(ILogger logger, string database);

    [LoggerMessage(Level = LogLevel.Warning, Message = "user database {Database}: {Problem}")]
    private static partial void LogRowSkipped(ILogger logger, string database, string problem);
}
