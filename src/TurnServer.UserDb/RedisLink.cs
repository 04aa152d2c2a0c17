using StackExchange.Redis;

namespace TurnServer.UserDb;

/// <summary>
/// One Redis connection, made on first use and kept (the client reconnects by itself after a failure), to one database
/// number. Calls through it turn the client's failures into <see cref="IOException"/>, as the SQL engines' are
/// <see cref="System.Data.Common.DbException"/>s.
/// </summary>
internal sealed class RedisLink : IDisposable
{
    private readonly ConfigurationOptions _options;
    private readonly int _database;
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private ConnectionMultiplexer? _connection;

    /// <summary>A link for a parsed <see cref="RedisConnectionString"/>.</summary>
    public RedisLink((ConfigurationOptions Options, int Database, string Description) settings)
    {
        _options = settings.Options;
        _database = settings.Database;
        Description = settings.Description;
    }

    /// <summary>Host, port and database number, without the password.</summary>
    public string Description { get; }

    /// <summary>Runs <paramref name="call"/> on the database, connecting first if need be.</summary>
    /// <exception cref="IOException">Redis could not be reached, refused a command or did not answer in time.</exception>
    /// <remarks>The client takes no cancellation token: a cancelled call stops waiting and leaves its commands to finish unobserved.</remarks>
    public async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            ConnectionMultiplexer connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            return await call(connection.GetDatabase(_database)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new IOException(e.Message, e);
        }
    }

    /// <inheritdoc cref="RunAsync{T}"/>
    public Task RunAsync(Func<IDatabase, Task> call, CancellationToken cancellationToken) =>
        RunAsync(async db =>
        {
            await call(db).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        _connection?.Dispose();
        _connecting.Dispose();
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _connection) is { } connection)
        {
            return connection;
        }

        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                ConnectionMultiplexer created = await ConnectionMultiplexer.ConnectAsync(_options).ConfigureAwait(false);
                Volatile.Write(ref _connection, created);
            }

            return _connection!;
        }
        finally
        {
            _connecting.Release();
        }
    }
}
