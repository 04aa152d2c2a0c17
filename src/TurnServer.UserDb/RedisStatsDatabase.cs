using StackExchange.Redis;

namespace TurnServer.UserDb;

/// <summary>What a <see cref="StatsRecord"/> asks of Redis.</summary>
public enum StatsCommand
{
    /// <summary><c>SET key value</c>: an allocation's current status.</summary>
    Set,

    /// <summary><c>DEL key</c>: the allocation is gone.</summary>
    Delete,

    /// <summary><c>PUBLISH channel message</c>: an event for subscribers.</summary>
    Publish,
}

/// <summary>One command for coTURN's <c>redis-statsdb</c>; <see cref="Value"/> is unused by <see cref="StatsCommand.Delete"/>.</summary>
/// <param name="Command">What to do.</param>
/// <param name="Key">The key, or the channel of a publish.</param>
/// <param name="Value">The value set, or the message published.</param>
public readonly record struct StatsRecord(StatsCommand Command, string Key, string Value);

/// <summary>
/// coTURN's <c>redis-statsdb</c> (its schema.stats.redis): the Redis database that allocation status keys are kept in
/// and allocation events are published to. Records are written in batches, pipelined in order on one connection.
/// </summary>
public sealed class RedisStatsDatabase : IDisposable
{
    private readonly RedisLink _link;

    private RedisStatsDatabase(RedisLink link) => _link = link;

    /// <summary>Host, port and database number, without the password.</summary>
    public string Description => _link.Description;

    /// <summary>
    /// The database named by <paramref name="connectionString"/>, in coTURN's form
    /// (<c>ip=... port=... dbname=... password=... connect_timeout=...</c>). Nothing is connected until the first write.
    /// </summary>
    /// <exception cref="FormatException">A malformed connection string (see <see cref="TurnUserDatabase.Redis"/>).</exception>
    public static RedisStatsDatabase Open(string connectionString) => new(new RedisLink(RedisConnectionString.Parse(connectionString)));

    /// <summary>Host, port and database number that <paramref name="connectionString"/> names, without the password.</summary>
    /// <exception cref="FormatException">A malformed connection string.</exception>
    public static string Describe(string connectionString) => RedisConnectionString.Parse(connectionString).Description;

    /// <summary>Sends <paramref name="records"/> in order and waits until Redis has answered every one.</summary>
    /// <exception cref="IOException">Redis could not be reached, refused a command or did not answer in time.</exception>
    public Task WriteAsync(IReadOnlyList<StatsRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        return _link.RunAsync(db =>
        {
            var sent = new Task[records.Count];
            for (int i = 0; i < sent.Length; i++)
            {
                StatsRecord record = records[i];
                sent[i] = record.Command switch
                {
                    StatsCommand.Set => db.StringSetAsync(record.Key, record.Value),
                    StatsCommand.Delete => db.KeyDeleteAsync(record.Key),
                    _ => db.PublishAsync(record.Key, record.Value),
                };
            }

            return Task.WhenAll(sent);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _link.Dispose();
}
