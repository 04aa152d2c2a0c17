using Microsoft.Extensions.Configuration;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// A turnserver.conf file as a configuration source (see <see cref="TurnServerConfigurationProvider"/> for the keys).
/// Added alone to a builder, a repeated option merges by index with other sources; <see cref="TurnServerConfigLoader"/>
/// instead appends a later source's values to the list, as coTURN appends the command line's to the file's.
/// </summary>
public sealed class TurnServerConfFileConfigurationSource : IConfigurationSource
{
    private readonly TurnConfigurationLayer? _parsed;

    /// <summary>Reads the file at <paramref name="path"/> when the configuration is built.</summary>
    public TurnServerConfFileConfigurationSource(string path) => Path = path;

    /// <summary>
    /// A file already parsed into <paramref name="parsed"/>; its lists are numbered from <paramref name="firstListIndexes"/>
    /// (see <see cref="FirstListIndexes"/>).
    /// </summary>
    internal TurnServerConfFileConfigurationSource(string path, TurnConfigurationLayer parsed, IReadOnlyDictionary<string, int> firstListIndexes)
        : this(path)
    {
        _parsed = parsed;
        FirstListIndexes = firstListIndexes;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>
    /// For each repeatable option earlier sources gave, how many values they gave: this source's values of it are
    /// numbered from there, after theirs; null when added alone.
    /// </summary>
    internal IReadOnlyDictionary<string, int>? FirstListIndexes { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnConfFileParser.ParseFile(Path), FirstListIndexes);
}

/// <summary>A coTURN-style command line (<c>-p 3478 --lt-cred-mech</c>) as a configuration source.</summary>
public sealed class TurnServerCommandLineConfigurationSource : IConfigurationSource
{
    private readonly TurnConfigurationLayer? _parsed;

    /// <summary>Parses <paramref name="args"/> when the configuration is built; <c>-c</c>, <c>-n</c>, <c>-h</c> and <c>--version</c> yield no keys.</summary>
    public TurnServerCommandLineConfigurationSource(IReadOnlyList<string> args) => Args = args;

    /// <summary>
    /// A command line already parsed into <paramref name="parsed"/>; its lists are numbered from
    /// <paramref name="firstListIndexes"/> (see <see cref="FirstListIndexes"/>).
    /// </summary>
    internal TurnServerCommandLineConfigurationSource(IReadOnlyList<string> args, TurnConfigurationLayer parsed, IReadOnlyDictionary<string, int> firstListIndexes)
        : this(args)
    {
        _parsed = parsed;
        FirstListIndexes = firstListIndexes;
    }

    /// <summary>The arguments, without the program name.</summary>
    public IReadOnlyList<string> Args { get; }

    /// <summary>
    /// For each repeatable option earlier sources gave, how many values they gave: this source's values of it are
    /// numbered from there, after theirs; null when added alone.
    /// </summary>
    internal IReadOnlyDictionary<string, int>? FirstListIndexes { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnCommandLineParser.Parse(Args).Layer, FirstListIndexes);
}

/// <summary>
/// Environment variables <c>TURNSERVER_LISTENING_PORT</c> and the like as a configuration source; the naming rules
/// are on <see cref="TurnServerConfigLoader.EnvironmentPrefix"/>.
/// </summary>
public sealed class TurnServerEnvironmentConfigurationSource : IConfigurationSource
{
    private readonly TurnConfigurationLayer? _parsed;

    /// <summary>Reads <paramref name="variables"/>, or the process environment when null, when the configuration is built.</summary>
    public TurnServerEnvironmentConfigurationSource(IDictionary<string, string?>? variables = null) => Variables = variables;

    /// <summary>
    /// Variables already parsed into <paramref name="parsed"/>; its lists are numbered from <paramref name="firstListIndexes"/>
    /// (see <see cref="FirstListIndexes"/>).
    /// </summary>
    internal TurnServerEnvironmentConfigurationSource(TurnConfigurationLayer parsed, IReadOnlyDictionary<string, int> firstListIndexes)
    {
        _parsed = parsed;
        FirstListIndexes = firstListIndexes;
    }

    /// <summary>The variables to read; null for the process environment.</summary>
    public IDictionary<string, string?>? Variables { get; }

    /// <summary>
    /// For each repeatable option earlier sources gave, how many values they gave: this source's values of it are
    /// numbered from there, after theirs; null when added alone.
    /// </summary>
    internal IReadOnlyDictionary<string, int>? FirstListIndexes { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnEnvironmentParser.Parse(Variables ?? TurnServerConfigLoader.ProcessEnvironment()), FirstListIndexes);
}
