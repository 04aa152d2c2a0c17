using System.Globalization;

namespace TurnServer.Admin;

/// <summary>What <c>turnadmin</c> was asked to do.</summary>
internal enum AdminCommand
{
    /// <summary>No command given: a usage error.</summary>
    None,

    /// <summary><c>-h</c>, <c>--help</c>: print the usage text.</summary>
    Help,

    /// <summary><c>-k</c>, <c>--key</c>: print the long-term key of <c>-u</c>, <c>-r</c>, <c>-p</c> (0x and 32 hex digits).</summary>
    Key,

    /// <summary>
    /// <c>-P</c>, <c>--generate-encrypted-password</c>: print the stored form of <c>-p</c> for <c>cli-password</c>
    /// (see <see cref="UserDb.AdminPassword"/>).
    /// </summary>
    EncryptPassword,

    /// <summary><c>-a</c>, <c>--add</c>: add or update a long-term credential user (<c>-u</c>, <c>-r</c>, <c>-p</c>).</summary>
    AddUser,

    /// <summary><c>-d</c>, <c>--delete</c>: delete a user (<c>-u</c>, <c>-r</c>).</summary>
    DeleteUser,

    /// <summary><c>-l</c>, <c>--list</c>: list users of <c>-r</c>, or of every realm.</summary>
    ListUsers,

    /// <summary><c>-s</c>, <c>--set-secret</c>: add a TURN REST API shared secret to <c>-r</c>.</summary>
    SetSecret,

    /// <summary><c>-S</c>, <c>--show-secret</c>: list shared secrets of <c>-r</c>, or of every realm.</summary>
    ShowSecrets,

    /// <summary><c>-X</c>, <c>--delete-secret</c>: delete one shared secret of <c>-r</c>.</summary>
    DeleteSecret,

    /// <summary><c>--delete-all-secrets</c>: delete every shared secret of <c>-r</c>.</summary>
    DeleteAllSecrets,

    /// <summary>
    /// <c>-A</c>, <c>--add-admin</c>: add or update an administrator of the web admin interface (<c>-u</c>, <c>-p</c>,
    /// and <c>-r</c> for one realm only), its password stored in <see cref="UserDb.AdminPassword"/>'s form.
    /// </summary>
    AddAdmin,

    /// <summary><c>-D</c>, <c>--delete-admin</c>: delete an administrator (<c>-u</c>).</summary>
    DeleteAdmin,

    /// <summary><c>-L</c>, <c>--list-admin</c>: list administrators, <c>name</c> or <c>name[realm]</c>.</summary>
    ListAdmins,

    /// <summary>
    /// <c>-g</c>, <c>--set-realm-option</c>: set <c>--max-bps</c>, <c>--total-quota</c>, <c>--user-quota</c> of <c>-r</c> (0
    /// removes one).
    /// </summary>
    SetRealmOption,

    /// <summary><c>-G</c>, <c>--list-realm-options</c>: list realm options of <c>-r</c>, or of every realm.</summary>
    ListRealmOptions,
}

/// <summary>
/// coTURN's turnadmin command line, read the way its getopt_long reads it: short options (<c>-a -u bob</c>, value
/// attached or next), long options (<c>--user=bob</c> or <c>--user bob</c>). Commands and options are coTURN's letters.
/// </summary>
internal sealed class AdminCommandLine
{
    // Letter, long names, whether it takes a value, and the command it selects (None for plain options).
    private static readonly (char? Short, string[] Long, bool Value, AdminCommand Command)[] Options =
    [
        ('k', ["key"], false, AdminCommand.Key),
        ('P', ["generate-encrypted-password"], false, AdminCommand.EncryptPassword),
        ('a', ["add"], false, AdminCommand.AddUser),
        ('d', ["delete"], false, AdminCommand.DeleteUser),
        ('l', ["list"], false, AdminCommand.ListUsers),
        ('s', ["set-secret"], true, AdminCommand.SetSecret),
        ('S', ["show-secret"], false, AdminCommand.ShowSecrets),
        ('X', ["delete-secret"], true, AdminCommand.DeleteSecret),
        (null, ["delete-all-secrets"], false, AdminCommand.DeleteAllSecrets),
        ('A', ["add-admin"], false, AdminCommand.AddAdmin),
        ('D', ["delete-admin"], false, AdminCommand.DeleteAdmin),
        ('L', ["list-admin"], false, AdminCommand.ListAdmins),
        ('g', ["set-realm-option"], false, AdminCommand.SetRealmOption),
        ('G', ["list-realm-options"], false, AdminCommand.ListRealmOptions),
        ('h', ["help"], false, AdminCommand.Help),
        ('b', ["db", "userdb"], true, AdminCommand.None),
        ('e', ["psql-userdb", "sql-userdb"], true, AdminCommand.None),
        ('N', ["redis-userdb"], true, AdminCommand.None),
        ('u', ["user"], true, AdminCommand.None),
        ('r', ["realm"], true, AdminCommand.None),
        ('p', ["password"], true, AdminCommand.None),
        (null, ["max-bps"], true, AdminCommand.None),
        (null, ["total-quota"], true, AdminCommand.None),
        (null, ["user-quota"], true, AdminCommand.None),
    ];

    // coTURN commands and databases this turnadmin does not handle: named in the error rather than misread.
    private static readonly Dictionary<string, string> Unsupported = new(StringComparer.Ordinal)
    {
        ["E"] = "--generate-encrypted-password-aes", ["generate-encrypted-password-aes"] = "--generate-encrypted-password-aes",
        ["O"] = "--add-origin", ["add-origin"] = "--add-origin",
        ["R"] = "--del-origin", ["del-origin"] = "--del-origin", ["I"] = "--list-origins", ["list-origins"] = "--list-origins",
        ["M"] = "--mysql-userdb", ["mysql-userdb"] = "--mysql-userdb", ["J"] = "--mongo-userdb", ["mongo-userdb"] = "--mongo-userdb",
        ["x"] = "--key-path", ["key-path"] = "--key-path", ["f"] = "--file-key-path", ["file-key-path"] = "--file-key-path",
        ["v"] = "--verify", ["verify"] = "--verify", ["o"] = "--origin", ["origin"] = "--origin",
    };

    private AdminCommandLine()
    {
    }

    /// <summary>The command asked for; <see cref="AdminCommand.None"/> when none was.</summary>
    public AdminCommand Command { get; private set; }

    /// <summary>The SQLite turndb file of <c>-b</c> (<c>--db</c>, <c>--userdb</c>); null for coTURN's default locations.</summary>
    public string? SqliteFile { get; private set; }

    /// <summary>The PostgreSQL connection string of <c>-e</c> (<c>--psql-userdb</c>, <c>--sql-userdb</c>), libpq style; null when not given.</summary>
    public string? PostgresConnection { get; private set; }

    /// <summary>The Redis connection string of <c>-N</c> (<c>--redis-userdb</c>), coTURN's form; null when not given.</summary>
    public string? RedisConnection { get; private set; }

    /// <summary>The user name of <c>-u</c>.</summary>
    public string? User { get; private set; }

    /// <summary>The realm of <c>-r</c>; empty when not given (for listings: every realm).</summary>
    public string Realm { get; private set; } = string.Empty;

    /// <summary>The password of <c>-p</c>.</summary>
    public string? Password { get; private set; }

    /// <summary>The value of -s or -X.</summary>
    public string? Secret { get; private set; }

    /// <summary>Realm options for -g to set, from --max-bps, --total-quota and --user-quota: name and value.</summary>
    public List<KeyValuePair<string, int>> RealmOptions { get; } = [];

    /// <summary>Parses <paramref name="args"/>; on failure <paramref name="error"/> says why.</summary>
    public static AdminCommandLine? Parse(IReadOnlyList<string> args, out string? error)
    {
        var line = new AdminCommandLine();
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Length > 2)
            {
                string name = arg[2..];
                string? value = null;
                int equals = name.IndexOf('=', StringComparison.Ordinal);
                if (equals >= 0)
                {
                    value = name[(equals + 1)..];
                    name = name[..equals];
                }

                if (Unsupported.TryGetValue(name, out string? unsupported))
                {
                    error = $"{unsupported} is not supported by TurnServer's turnadmin (users, secrets, realm options and admin users are)";
                    return null;
                }

                int index = Array.FindIndex(Options, o => o.Long.Contains(name));
                if (index < 0)
                {
                    error = $"unknown option '--{name}'";
                    return null;
                }

                if (Options[index].Value && value is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        error = $"option '--{name}' requires a value";
                        return null;
                    }

                    value = args[++i];
                }

                if (!line.Apply(index, value, out error))
                {
                    return null;
                }

                continue;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                error = $"unexpected argument '{arg}'";
                return null;
            }

            for (int j = 1; j < arg.Length; j++)
            {
                string letter = arg[j].ToString();
                if (Unsupported.TryGetValue(letter, out string? unsupported))
                {
                    error = $"-{letter} ({unsupported}) is not supported by TurnServer's turnadmin (users, secrets, realm options and admin users are)";
                    return null;
                }

                int index = Array.FindIndex(Options, o => o.Short == arg[j]);
                if (index < 0)
                {
                    error = $"unknown option '-{letter}'";
                    return null;
                }

                string? value = null;
                if (Options[index].Value)
                {
                    if (j + 1 < arg.Length)
                    {
                        value = arg[(j + 1)..];
                    }
                    else if (i + 1 < args.Count)
                    {
                        value = args[++i];
                    }
                    else
                    {
                        error = $"option '-{letter}' requires a value";
                        return null;
                    }
                }

                if (!line.Apply(index, value, out error))
                {
                    return null;
                }

                if (value is not null)
                {
                    break;
                }
            }
        }

        return line;
    }

    private bool Apply(int index, string? value, out string? error)
    {
        error = null;
        (_, string[] names, _, AdminCommand command) = Options[index];
        if (command != AdminCommand.None)
        {
            if (Command != AdminCommand.None && Command != command)
            {
                error = "give one command at a time";
                return false;
            }

            Command = command;
            if (command is AdminCommand.SetSecret or AdminCommand.DeleteSecret)
            {
                Secret = value;
            }

            return true;
        }

        switch (names[0])
        {
            case "db":
                SqliteFile = value;
                break;
            case "psql-userdb":
                PostgresConnection = value;
                break;
            case "redis-userdb":
                RedisConnection = value;
                break;
            case "user":
                User = value;
                break;
            case "realm":
                Realm = value ?? string.Empty;
                break;
            case "password":
                Password = value;
                break;
            default:
                if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
                {
                    error = $"option '--{names[0]}' needs a non-negative number, not '{value}'";
                    return false;
                }

                RealmOptions.Add(new(names[0], number));
                break;
        }

        return true;
    }
}
