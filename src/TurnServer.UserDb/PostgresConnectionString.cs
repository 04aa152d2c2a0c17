using System.Globalization;
using System.Text;
using Npgsql;

namespace TurnServer.UserDb;

/// <summary>
/// Reads coTURN's <c>psql-userdb</c> value, which libpq parses: <c>keyword=value</c> pairs separated by blanks, values
/// optionally in single quotes with <c>\'</c> and <c>\\</c> escapes (<c>host=db dbname=coturn user=turn password='a b'
/// connect_timeout=30</c>), or a URI <c>postgresql://user:password@host:port/dbname?sslmode=require</c>.
/// </summary>
internal static class PostgresConnectionString
{
    private const string Keywords = "host, hostaddr, port, dbname, user, password, passfile, connect_timeout, options, application_name, sslmode, sslrootcert, sslcert, sslkey, target_session_attributes, keepalives_idle";

    /// <summary>Where libpq looks for the server when neither the string nor <c>PGHOST</c> names one: Debian's socket directory.</summary>
    public const string DefaultSocketDirectory = "/var/run/postgresql";

    /// <summary>
    /// Npgsql settings for a libpq <paramref name="conninfo"/> (keywords or URI): host or hostaddr, port, dbname, user, password,
    /// passfile, connect_timeout (seconds), options, application_name, sslmode, sslrootcert, sslcert, sslkey,
    /// target_session_attributes (Npgsql takes it only with several hosts) and keepalives_idle (seconds). Without a host,
    /// libpq's default applies: <c>PGHOST</c>, else the local socket directory (<see cref="DefaultSocketDirectory"/>); without
    /// a port, <c>PGPORT</c>, else 5432.
    /// </summary>
    /// <exception cref="FormatException">
    /// The text cannot be read: a keyword without <c>=</c>, an unterminated quote, an invalid URI, a port or timeout that is not
    /// a number in range, an unknown keyword or <c>sslmode</c>, or settings Npgsql refuses. The message never repeats the password.
    /// </exception>
    public static NpgsqlConnectionStringBuilder ToNpgsql(string conninfo)
    {
        ArgumentNullException.ThrowIfNull(conninfo);
        string text = conninfo.Trim();
        List<KeyValuePair<string, string>> pairs = text.StartsWith("postgresql://", StringComparison.Ordinal) || text.StartsWith("postgres://", StringComparison.Ordinal)
            ? FromUri(text)
            : FromKeywords(text);
        var builder = new NpgsqlConnectionStringBuilder();
        try
        {
            foreach ((string key, string value) in pairs)
            {
                Apply(builder, key, value);
            }

            if (string.IsNullOrEmpty(builder.Host))
            {
                builder.Host = Environment.GetEnvironmentVariable("PGHOST") is { Length: > 0 } host ? host : DefaultSocketDirectory;
            }

            if (!pairs.Any(p => p.Key == "port") && Environment.GetEnvironmentVariable("PGPORT") is { Length: > 0 } port)
            {
                builder.Port = Number("PGPORT", port, 1, 65535);
            }

            // Npgsql checks some settings only when a data source is built (a port in host=, target_session_attributes with
            // one host); building one here, without connecting, makes them errors of the configuration instead of failures
            // of every later read.
            new NpgsqlDataSourceBuilder(builder.ConnectionString).Build().Dispose();
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or OverflowException)
        {
            throw new FormatException(e.Message, e);
        }

        return builder;
    }

    private static void Apply(NpgsqlConnectionStringBuilder builder, string key, string value)
    {
        switch (key)
        {
            case "host" or "hostaddr":
                builder.Host = value;
                break;
            case "port":
                builder.Port = Number(key, value, 1, 65535);
                break;
            case "dbname":
                builder.Database = value;
                break;
            case "user":
                builder.Username = value;
                break;
            case "password":
                builder.Password = value;
                break;
            case "connect_timeout":
                // libpq takes any number of seconds; Npgsql waits at most 1024 (0: for ever).
                builder.Timeout = Number(key, value, 0, 1024);
                break;
            case "application_name":
                builder.ApplicationName = value;
                break;
            case "options":
                builder.Options = value;
                break;
            case "passfile":
                builder.Passfile = value;
                break;
            case "sslrootcert":
                builder.RootCertificate = value;
                break;
            case "sslcert":
                builder.SslCertificate = value;
                break;
            case "sslkey":
                builder.SslKey = value;
                break;
            case "target_session_attributes":
                builder.TargetSessionAttributes = value;
                break;
            case "keepalives_idle":
                // Seconds before TCP keepalive probes, as in libpq: Npgsql's TcpKeepAliveTime (its KeepAlive sends queries
                // instead); Linux takes at most 32767.
                builder.TcpKeepAliveTime = Number(key, value, 0, 32767);
                break;
            case "sslmode":
                builder.SslMode = value switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => throw new FormatException($"sslmode '{value}' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
                };
                break;
            default:
                throw new FormatException($"'{key}' is not a connection parameter TurnServer understands ({Keywords})");
        }
    }

    private static int Number(string key, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number >= min && number <= max
            ? number
            : throw new FormatException($"'{key}' must be a number from {min} to {max}");

    private static List<KeyValuePair<string, string>> FromKeywords(string text)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        int i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i == text.Length)
            {
                return pairs;
            }

            int equals = text.IndexOf('=', i);
            if (equals < 0)
            {
                // Not the word itself: after an unquoted password with a blank in it, the word is the password's tail.
                throw new FormatException($"a word without '=' at character {i + 1} (a value with blanks needs single quotes)");
            }

            string key = text[i..equals].Trim();
            if (key.Any(char.IsWhiteSpace))
            {
                throw new FormatException($"a keyword with a blank in it at character {i + 1} (a value with blanks needs single quotes)");
            }

            i = equals + 1;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var value = new StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                while (true)
                {
                    if (i == text.Length)
                    {
                        throw new FormatException($"unterminated quoted value of '{key}'");
                    }

                    char c = text[i++];
                    if (c == '\'')
                    {
                        break;
                    }

                    if (c == '\\' && i < text.Length)
                    {
                        c = text[i++];
                    }

                    value.Append(c);
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    char c = text[i++];
                    if (c == '\\' && i < text.Length)
                    {
                        c = text[i++];
                    }

                    value.Append(c);
                }
            }

            pairs.Add(new(key, value.ToString()));
        }
    }

    private static List<KeyValuePair<string, string>> FromUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri))
        {
            throw new FormatException("not a valid postgresql:// URI");
        }

        var pairs = new List<KeyValuePair<string, string>>();
        if (uri.UserInfo.Length > 0)
        {
            string[] credentials = uri.UserInfo.Split(':', 2);
            pairs.Add(new("user", Uri.UnescapeDataString(credentials[0])));
            if (credentials.Length == 2)
            {
                pairs.Add(new("password", Uri.UnescapeDataString(credentials[1])));
            }
        }

        if (uri.Host.Length > 0)
        {
            pairs.Add(new("host", uri.Host.Trim('[', ']')));
        }

        if (!uri.IsDefaultPort && uri.Port > 0)
        {
            pairs.Add(new("port", uri.Port.ToString(CultureInfo.InvariantCulture)));
        }

        string database = uri.AbsolutePath.TrimStart('/');
        if (database.Length > 0)
        {
            pairs.Add(new("dbname", Uri.UnescapeDataString(database)));
        }

        foreach (string parameter in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] pair = parameter.Split('=', 2);
            pairs.Add(new(Uri.UnescapeDataString(pair[0]), pair.Length == 2 ? Uri.UnescapeDataString(pair[1]) : string.Empty));
        }

        return pairs;
    }
}
