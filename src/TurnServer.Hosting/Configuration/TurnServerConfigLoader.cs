using System.Collections;
using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Configuration;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Loads the server configuration as coTURN does — turnserver.conf (from <c>-c</c>, or searched for, or none with
/// <c>-n</c>) overridden by the command line — with <c>TURNSERVER_*</c> environment variables in between, and validates it.
/// A single-valued option takes the value of the last source that gives it; a repeatable one (<c>listening-ip</c>,
/// <c>user</c>, <c>static-auth-secret</c>, ...) collects the values of every source in that order, as coTURN adds the
/// command line's to the file's.
/// </summary>
public static class TurnServerConfigLoader
{
    /// <summary>
    /// The prefix of environment variables that set options: <c>TURNSERVER_LISTENING_PORT=3479</c> sets
    /// <c>listening-port</c>. Names match case-insensitively with <c>_</c> for <c>-</c> (and <c>_</c>); an exact-case
    /// match wins, which tells <c>TURNSERVER_Verbose</c> (<c>Verbose</c>) from <c>TURNSERVER_VERBOSE</c> (<c>verbose</c>).
    /// Repeatable options take <c>TURNSERVER_USER</c> or indexed <c>TURNSERVER_USER__0</c>, <c>TURNSERVER_USER__1</c>.
    /// </summary>
    public const string EnvironmentPrefix = TurnEnvironmentParser.Prefix;

    /// <summary>Where coTURN looks for turnserver.conf when neither <c>-c</c> nor <c>-n</c> is given, in order.</summary>
    public static IEnumerable<string> DefaultConfigSearchPaths() => ConfigFileLocator.Candidates(ConfigFileLocator.DefaultFileName);

    /// <summary>
    /// Loads and validates the configuration. Never throws for bad input: problems are in
    /// <see cref="TurnServerConfigLoadResult.Errors"/> and <see cref="TurnServerConfigLoadResult.Warnings"/>.
    /// </summary>
    /// <param name="args">The command line without the program name, in coTURN's forms.</param>
    /// <param name="environment">The environment variables to read; null for the process environment.</param>
    /// <param name="defaultConfigSearchPaths">
    /// Candidate turnserver.conf paths to try when neither <c>-c</c> nor <c>-n</c> is given; null for
    /// <see cref="DefaultConfigSearchPaths"/>. Tests pass their own so that they never read /etc.
    /// </param>
    public static TurnServerConfigLoadResult Load(
        IReadOnlyList<string> args,
        IDictionary<string, string?>? environment = null,
        Func<IEnumerable<string>>? defaultConfigSearchPaths = null) =>
        Load(args, environment, defaultConfigSearchPaths, SystemDomainName, Dns.GetHostAddresses, ConfigFileLocator.Resolve);

    /// <summary>
    /// As the public overload, with the source of the default realm (the system's domain name), the host name lookup
    /// (for a host name given where an address is expected) and the search for <c>cert</c>, <c>pkey</c> and
    /// <c>CA-file</c> files named relatively (<see cref="ConfigFileLocator.Resolve(string)"/>) replaceable.
    /// </summary>
    internal static TurnServerConfigLoadResult Load(
        IReadOnlyList<string> args,
        IDictionary<string, string?>? environment,
        Func<IEnumerable<string>>? defaultConfigSearchPaths,
        Func<string?> domainName,
        Func<string, IPAddress[]> resolveHost,
        Func<string, string?> findFile)
    {
        ArgumentNullException.ThrowIfNull(args);
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(args);
        if (commandLine.HelpRequested || commandLine.VersionRequested)
        {
            return new TurnServerConfigLoadResult
            {
                HelpRequested = commandLine.HelpRequested,
                VersionRequested = commandLine.VersionRequested,
                Configuration = new ConfigurationBuilder().Build(),
            };
        }

        var errors = new List<string>();
        var warnings = new List<string>();
        string? configFilePath = FindConfigFile(commandLine, defaultConfigSearchPaths ?? DefaultConfigSearchPaths, errors, warnings);
        TurnConfigurationLayer? file = configFilePath is null ? null : TurnConfFileParser.ParseFile(configFilePath);
        TurnConfigurationLayer environmentLayer = TurnEnvironmentParser.Parse(environment ?? ProcessEnvironment());

        // Later layers win; a repeatable option's values in a later layer follow those of earlier ones.
        TurnConfigurationLayer[] layers = file is null ? [environmentLayer, commandLine.Layer] : [file, environmentLayer, commandLine.Layer];
        var builder = new ConfigurationBuilder();
        if (file is not null)
        {
            builder.Add(new TurnServerConfFileConfigurationSource(configFilePath!, file, ListLengthsBefore(layers, 0)));
        }

        builder.Add(new TurnServerEnvironmentConfigurationSource(environmentLayer, ListLengthsBefore(layers, layers.Length - 2)));
        builder.Add(new TurnServerCommandLineConfigurationSource(args, commandLine.Layer, ListLengthsBefore(layers, layers.Length - 1)));
        IConfigurationRoot configuration = builder.Build();

        var origins = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (TurnServerConfigurationProvider provider in configuration.Providers.Cast<TurnServerConfigurationProvider>())
        {
            errors.AddRange(provider.Errors);
            warnings.AddRange(provider.Warnings);
            WarnAboutRepeats(provider.Layer, warnings);
            foreach ((string key, string origin) in provider.Origins)
            {
                origins[key] = origin;
            }
        }

        WarnAboutUnsupported(configuration, origins, warnings);
        TurnServerSettings settings = TurnServerSettingsBinder.Bind(configuration, origins, Positions(layers), configFilePath, domainName(), resolveHost, findFile, errors, warnings);
        return new TurnServerConfigLoadResult
        {
            Settings = errors.Count == 0 ? settings : null,
            Errors = errors,
            Warnings = warnings,
            Configuration = configuration,
            ValueOrigins = origins,
        };
    }

    /// <summary>The process's environment variables as name/value pairs.</summary>
    internal static IEnumerable<KeyValuePair<string, string?>> ProcessEnvironment() =>
        Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .Select(e => KeyValuePair.Create((string)e.Key, (string?)e.Value));

    private static string? FindConfigFile(TurnCommandLine commandLine, Func<IEnumerable<string>> searchPaths, List<string> errors, List<string> warnings)
    {
        if (commandLine.NoConfigFile)
        {
            return null;
        }

        if (commandLine.ConfigFile is not null)
        {
            // coTURN only warns and starts on defaults; with no credentials configured that is an open relay, so a
            // configuration file asked for by name must exist.
            string? found = ConfigFileLocator.Resolve(commandLine.ConfigFile);
            if (found is null)
            {
                errors.Add($"command line (-c): configuration file '{commandLine.ConfigFile}' not found");
            }

            return found;
        }

        string? path = searchPaths().FirstOrDefault(File.Exists);
        if (path is null)
        {
            warnings.Add($"no {ConfigFileLocator.DefaultFileName} found; using defaults, the environment and the command line");
        }

        return path;
    }

    // Where each option was last given, counting through file, environment and command line in that order, so that of
    // two options coTURN keeps in one setting (userdb and redis-userdb) the later wins, as in coTURN's pass over file then
    // command line.
    private static Dictionary<string, int> Positions(TurnConfigurationLayer[] layers)
    {
        var positions = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        int position = 0;
        foreach (TurnConfigurationEntry entry in layers.SelectMany(l => l.Entries))
        {
            positions[entry.Option.ConfigurationKey!] = position++;
        }

        return positions;
    }

    // How many values of each repeatable option the layers before layers[index] gave.
    private static Dictionary<string, int> ListLengthsBefore(TurnConfigurationLayer[] layers, int index) =>
        layers.Take(index)
            .SelectMany(l => l.Entries)
            .Where(e => e.Option.Repeatable)
            .GroupBy(e => e.Option.ConfigurationKey!, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);

    private static void WarnAboutRepeats(TurnConfigurationLayer layer, List<string> warnings)
    {
        foreach (IGrouping<TurnOption, TurnConfigurationEntry> repeats in layer.Entries.Where(e => !e.Option.Repeatable).GroupBy(e => e.Option).Where(g => g.Count() > 1))
        {
            warnings.Add($"{repeats.Last().Origin}: option '{repeats.Key.Name}' is given more than once (also at {string.Join(", ", repeats.SkipLast(1).Select(e => e.Origin))}); this value wins");
        }
    }

    // A flag given a false value (stun-backward-compatibility=false) asks for nothing left undone, so it is not warned about.
    private static void WarnAboutUnsupported(IConfiguration configuration, Dictionary<string, string> origins, List<string> warnings)
    {
        foreach (TurnOption option in TurnOptionTable.All.Where(o => o.Support == TurnOptionSupport.NotYetImplemented))
        {
            string key = option.ConfigurationKey!;
            bool switchedOff = option.ValueKind == TurnOptionValueKind.Boolean && TurnValueParser.TryParseBoolean(configuration[key] ?? "", out bool on) && !on;
            if (!switchedOff && (origins.TryGetValue(key, out string? origin) || origins.TryGetValue(key + ConfigurationPath.KeyDelimiter + "0", out origin)))
            {
                string instead = option.NotHonoured is null ? "" : ": " + option.NotHonoured;
                warnings.Add($"{origin}: option '{option.Name}' is not yet implemented in TurnServer and has no effect{instead}");
            }
        }
    }

    private static string? SystemDomainName()
    {
        try
        {
            return IPGlobalProperties.GetIPGlobalProperties().DomainName;
        }
        catch (NetworkInformationException)
        {
            return null;
        }
    }
}
