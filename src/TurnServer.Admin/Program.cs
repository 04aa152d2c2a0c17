using System.Data.Common;
using TurnServer.Admin;
using TurnServer.Stun;
using TurnServer.UserDb;

// turnadmin, as coTURN's: -k prints a long-term key; -P the stored form of a CLI password; -a/-d/-l edit and list users; -s/-S/-X and --delete-all-secrets
// edit and list TURN REST API secrets; -g/-G realm options; -A/-D/-L administrators of the web admin interface; against a SQLite turndb (-b) or PostgreSQL (-e).
// Exit codes: 0 done, 1 the database failed, 255 a usage error or a missing user, password or realm (coTURN's code, and
// its words for a missing value, which scripts written for coTURN may check).
const int Done = 0;
const int DatabaseFailed = 1;
const int Refused = 255;

AdminCommandLine? line = AdminCommandLine.Parse(args, out string? error);
if (line is null)
{
    return Usage(error!);
}

switch (line.Command)
{
    case AdminCommand.None:
        return Usage("no command given");
    case AdminCommand.Help:
        Console.Out.Write(HelpText);
        return Done;
    case AdminCommand.Key:
        if (MissingUserOrPassword(line) is { } missing)
        {
            return NotSet(missing);
        }

        Console.Out.WriteLine("0x" + Convert.ToHexStringLower(MessageIntegrity.ComputeLongTermKey(line.User!, line.Realm, line.Password!)));
        return Done;
    case AdminCommand.EncryptPassword:
        if (string.IsNullOrEmpty(line.Password))
        {
            return Usage("-P needs -p <password>");
        }

        Console.Out.WriteLine(AdminPassword.Encrypt(line.Password));
        return Done;
}

TurnUserDatabase database;
try
{
    database = line.PostgresConnection is { } postgres ? TurnUserDatabase.PostgreSql(postgres)
        : line.RedisConnection is { } redis ? TurnUserDatabase.Redis(redis)
        : TurnUserDatabase.Sqlite(line.SqliteFile ?? DefaultSqliteFile());
}
catch (FormatException e)
{
    return Usage("the database connection string cannot be read: " + e.Message);
}

try
{
    switch (line.Command)
    {
        case AdminCommand.AddUser:
            if ((MissingUserOrPassword(line) ?? MissingRealm(line)) is { } userPasswordOrRealm)
            {
                return NotSet(userPasswordOrRealm);
            }

            await database.SetUserKeyAsync(line.Realm, line.User!, MessageIntegrity.ComputeLongTermKey(line.User!, line.Realm, line.Password!));
            break;
        case AdminCommand.DeleteUser:
            if ((MissingUser(line) ?? MissingRealm(line)) is { } userOrRealm)
            {
                return NotSet(userOrRealm);
            }

            await database.DeleteUserAsync(line.Realm, line.User!);
            break;
        case AdminCommand.ListUsers:
            foreach (UserDatabaseUser user in await database.ListUsersAsync(line.Realm))
            {
                Console.Out.WriteLine($"{user.Name}[{user.Realm}]");
            }

            break;
        case AdminCommand.SetSecret:
            if (line.Realm.Length == 0)
            {
                return NotSet("realm");
            }

            await database.AddSecretAsync(line.Realm, line.Secret!);
            break;
        case AdminCommand.ShowSecrets:
            foreach (UserDatabaseSecret secret in await database.ListSecretsAsync(line.Realm))
            {
                Console.Out.WriteLine($"{secret.Value}[{secret.Realm}]");
            }

            break;
        case AdminCommand.DeleteSecret:
            if (line.Realm.Length == 0)
            {
                return NotSet("realm");
            }

            await database.DeleteSecretAsync(line.Realm, line.Secret!);
            break;
        case AdminCommand.DeleteAllSecrets:
            if (line.Realm.Length == 0)
            {
                return NotSet("realm");
            }

            await database.DeleteAllSecretsAsync(line.Realm);
            break;
        case AdminCommand.AddAdmin:
            if (MissingUserOrPassword(line) is { } userOrPassword)
            {
                return NotSet(userOrPassword);
            }

            await database.SetAdminUserAsync(line.User!, line.Realm, AdminPassword.Encrypt(line.Password!));
            break;
        case AdminCommand.DeleteAdmin:
            if (MissingUser(line) is { } noUser)
            {
                return NotSet(noUser);
            }

            await database.DeleteAdminUserAsync(line.User!);
            break;
        case AdminCommand.ListAdmins:
            foreach (UserDatabaseAdmin admin in await database.ListAdminUsersAsync())
            {
                Console.Out.WriteLine(admin.Realm.Length == 0 ? admin.Name : $"{admin.Name}[{admin.Realm}]");
            }

            break;
        case AdminCommand.SetRealmOption:
            if (line.Realm.Length == 0)
            {
                return NotSet("realm");
            }

            if (line.RealmOptions.Count == 0)
            {
                return Usage("-g needs -r <realm> and at least one of --max-bps, --total-quota, --user-quota");
            }

            foreach ((string option, int value) in line.RealmOptions)
            {
                await database.SetRealmOptionAsync(line.Realm, option, value);
            }

            break;
        case AdminCommand.ListRealmOptions:
            foreach (UserDatabaseRealmOption option in await database.ListRealmOptionsAsync(line.Realm))
            {
                // coTURN's words, which differ by engine.
                Console.Out.WriteLine(database.Kind == UserDatabaseKind.Redis ? $"{option.Realm}/{option.Option} = {option.Value}" : $"{option.Option}[{option.Realm}]={option.Value}");
            }

            break;
    }
}
catch (Exception e) when (e is DbException or IOException)
{
    Console.Error.WriteLine($"ERROR: {database.Description}: {e.Message}");
    return DatabaseFailed;
}

return Done;

static int Usage(string message)
{
    Console.Error.WriteLine("ERROR: " + message);
    Console.Error.Write(HelpText);
    return Refused;
}

// coTURN checks the user, then the password, then the realm, and names the first missing (or empty) one.
static string? MissingUser(AdminCommandLine line) => string.IsNullOrEmpty(line.User) ? "user" : null;

static string? MissingUserOrPassword(AdminCommandLine line) => MissingUser(line) ?? (string.IsNullOrEmpty(line.Password) ? "password" : null);

static string? MissingRealm(AdminCommandLine line) => line.Realm.Length == 0 ? "realm" : null;

static int NotSet(string what)
{
    Console.Error.WriteLine($"The operation cannot be completed: the {what} must be set.");
    return Refused;
}

// coTURN's default SQLite turndb locations, first existing one; Debian's when none exists yet.
static string DefaultSqliteFile() =>
    TurnUserDatabase.DefaultSqliteFiles.FirstOrDefault(File.Exists) ?? TurnUserDatabase.DefaultSqliteFiles[^1];

/// <summary>The turnadmin entry point.</summary>
public partial class Program
{
    private const string HelpText = """
        Usage: turnadmin [command] [options]

        Commands:
          -k, --key                    print the long-term credential key of -u/-r/-p (0x + 32 hex digits)
          -P, --generate-encrypted-password  print the stored form of -p for cli-password ($5$ salt $ SHA-256)
          -a, --add                    add or update a long-term credential user (-u, -r, -p)
          -d, --delete                 delete a user (-u, -r)
          -l, --list                   list users (of -r, or of every realm)
          -s, --set-secret=<value>     add a TURN REST API shared secret (-r)
          -S, --show-secret            list shared secrets (of -r, or of every realm)
          -X, --delete-secret=<value>  delete a shared secret (-r)
              --delete-all-secrets     delete every shared secret of -r
          -g, --set-realm-option       set --max-bps, --total-quota, --user-quota of -r (0 removes the option)
          -G, --list-realm-options     list realm options (of -r, or of every realm)
          -A, --add-admin              add or update a web admin user (-u, -p; -r limits it to one realm)
          -D, --delete-admin           delete a web admin user (-u)
          -L, --list-admin             list web admin users
          -h, --help                   this text

        Options:
          -b, --db, --userdb           SQLite turndb file (default: /var/db/turndb, /usr/local/var/db/turndb or /var/lib/turn/turndb)
          -e, --psql-userdb, --sql-userdb  PostgreSQL connection string, libpq style ("host=... dbname=... user=... password=...")
          -N, --redis-userdb           Redis connection string, coTURN's form ("ip=... port=... dbname=... password=...")
          -u, --user                   user name
          -r, --realm                  realm
          -p, --password               password

        """;
}
