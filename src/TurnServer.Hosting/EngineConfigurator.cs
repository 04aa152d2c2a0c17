using TurnServer.Core;
using TurnServer.Hosting.Configuration;
using TurnServer.UserDb;

namespace TurnServer.Hosting;

/// <summary>
/// Keeps the engine's changeable parts in step with their two sources: the configuration (replaced by a SIGHUP
/// reload) and the user database (refreshed every few seconds). Credentials: the configuration's <c>user</c> entries
/// and the database's <c>turnusers_lt</c>; REST secrets: <c>static-auth-secret</c>, or the database's
/// <c>turn_secret</c> when none is configured (as coTURN does); peer rules: both sets of ranges; quotas: the
/// database's realm options over the configuration's.
/// </summary>
internal sealed class EngineConfigurator
{
    private readonly Lock _sync = new();
    private readonly TurnEngine _engine;
    private readonly TimeProvider _time;
    private volatile IReadOnlyList<string> _secrets = [];
    private TurnServerSettings _settings;
    private UserDatabaseSnapshot _database = UserDatabaseSnapshot.Empty;

    /// <summary>
    /// Applies <paramref name="settings"/> to <paramref name="engine"/> at once; <paramref name="databaseUsers"/> is null without
    /// a user database.
    /// </summary>
    public EngineConfigurator(TurnEngine engine, TurnServerSettings settings, UserDatabaseCredentials? databaseUsers, TimeProvider time)
    {
        _engine = engine;
        _time = time;
        DatabaseUsers = databaseUsers;
        _settings = settings;
        Apply(settings);
    }

    /// <summary>The settings in force.</summary>
    public TurnServerSettings Settings
    {
        get
        {
            lock (_sync)
            {
                return _settings;
            }
        }
    }

    /// <summary>The user database's credentials, when one is configured.</summary>
    public UserDatabaseCredentials? DatabaseUsers { get; }

    /// <summary>Takes reloaded settings: users, secrets, peer rules, quotas.</summary>
    public void Apply(TurnServerSettings settings)
    {
        lock (_sync)
        {
            _settings = settings;
            UpdateSecrets();
            _engine.ReplaceCredentialSources(TurnOptionsFactory.CreateCredentialSources(settings, _time, () => _secrets, DatabaseUsers));
            UpdateRulesAndQuotas();
        }
    }

    /// <summary>Takes a fresh read of the user database.</summary>
    public void Apply(UserDatabaseSnapshot snapshot)
    {
        lock (_sync)
        {
            _database = snapshot;
            if (DatabaseUsers is not null)
            {
                DatabaseUsers.Snapshot = snapshot;
            }

            UpdateSecrets();
            UpdateRulesAndQuotas();
        }
    }

    private void UpdateSecrets() => _secrets = _settings.StaticAuthSecrets.Count > 0 ? _settings.StaticAuthSecrets : _database.Secrets;

    private void UpdateRulesAndQuotas()
    {
        UserDatabaseSnapshot database = _database;
        _engine.PeerPolicy = _settings.NoDynamicIpList
            ? TurnOptionsFactory.CreatePeerPolicy(_settings, [], [])
            : TurnOptionsFactory.CreatePeerPolicy(_settings, database.AllowedPeers, database.DeniedPeers);
        if (_settings.NoDynamicRealms)
        {
            _engine.Allocations.SetQuotas(_settings.UserQuota, _settings.TotalQuota, _settings.MaxBps);
        }
        else
        {
            _engine.Allocations.SetQuotas(database.UserQuota ?? _settings.UserQuota, database.TotalQuota ?? _settings.TotalQuota, database.MaxBps ?? _settings.MaxBps);
        }
    }
}
