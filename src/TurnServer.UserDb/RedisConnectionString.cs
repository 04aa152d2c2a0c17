using System.Globalization;
using StackExchange.Redis;

namespace TurnServer.UserDb;

/// <summary>
/// Reads coTURN's <c>redis-userdb</c> value: <c>key=value</c> pairs separated by blanks, no quoting, as coTURN parses
/// it: <c>ip</c> (or host, addr, ipaddr, hostaddr; default 127.0.0.1), <c>port</c> (or p; default 6379),
/// <c>dbname</c> (or db, database; a database number, default 0), <c>password</c> (or pwd, passwd, secret),
/// <c>connect_timeout</c> (or timeout; seconds). A user name (user, uname, name, username) is accepted and not used, as in
/// coTURN, which authenticates with the password alone.
/// </summary>
internal static class RedisConnectionString
{
    /// <summary>The default Redis port.</summary>
    public const int DefaultPort = 6379;

    /// <summary>The client settings, the database number and a description without the password.</summary>
    /// <exception cref="FormatException">
    /// A word without <c>=</c>, an unknown key (coTURN refuses both), or a port, database number or timeout that is not a number.
    /// </exception>
    public static (ConfigurationOptions Options, int Database, string Description) Parse(string conninfo)
    {
        ArgumentNullException.ThrowIfNull(conninfo);
        string host = "127.0.0.1";
        int port = DefaultPort;
        int database = 0;
        string? password = null;
        int? connectTimeoutSeconds = null;
        foreach (string word in conninfo.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                // Not echoed: after a blank inside a password, the stray word is the rest of the password.
                throw new FormatException("a word without '=' (values cannot contain blanks)");
            }

            string key = word[..equals];
            string value = word[(equals + 1)..];
            switch (key)
            {
                case "host" or "ip" or "addr" or "ipaddr" or "hostaddr":
                    host = value;
                    break;
                case "port" or "p":
                    port = Number(key, value, 1, 65535);
                    break;
                case "dbname" or "db" or "database":
                    database = Number(key, value, 0, int.MaxValue);
                    break;
                case "password" or "pwd" or "passwd" or "secret":
                    password = value;
                    break;
                case "connect_timeout" or "timeout":
                    connectTimeoutSeconds = Number(key, value, 0, 3600);
                    break;
                case "user" or "uname" or "name" or "username":
                    break;
                default:
                    throw new FormatException($"unknown key '{key}' (expected ip, port, dbname, password, connect_timeout)");
            }
        }

        var options = new ConfigurationOptions
        {
            Password = string.IsNullOrEmpty(password) ? null : password,
            DefaultDatabase = database,
            AbortOnConnectFail = false, // a server that is down at start-up is retried in the background, as later failures are
            ClientName = "turnserver",
        };
        options.EndPoints.Add(host, port);
        if (connectTimeoutSeconds is int seconds and > 0)
        {
            options.ConnectTimeout = seconds * 1000;
        }

        return (options, database, $"Redis {host}:{port.ToString(CultureInfo.InvariantCulture)}/{database.ToString(CultureInfo.InvariantCulture)}");
    }

    private static int Number(string key, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number >= min && number <= max
            ? number
            : throw new FormatException($"'{key}' must be a number from {min} to {max}");
}
