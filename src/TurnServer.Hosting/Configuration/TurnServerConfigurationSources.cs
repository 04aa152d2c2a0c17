using Microsoft.Extensions.Configuration;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// A turnserver.conf file as a configuration source (see <see cref="TurnServerConfigurationProvider"/> for the keys).
/// Added alone to a builder, a repeated option merges by index with other sources; <see cref="TurnServerConfigLoader"/>
/// instead lets a later source replace the whole list.
/// </summary>
public sealed class TurnServerConfFileConfigurationSource : IConfigurationSource
{
    private readonly TurnConfigurationLayer? _parsed;

    /// <summary>Reads the file at <paramref name="path"/> when the configuration is built.</summary>
    public TurnServerConfFileConfigurationSource(string path) => Path = path;

    /// <summary>
    /// A file already parsed into <paramref name="parsed"/>; its lists named in <paramref name="replacedLists"/> are left to
    /// later sources.
    /// </summary>
    internal TurnServerConfFileConfigurationSource(string path, TurnConfigurationLayer parsed, IReadOnlySet<string> replacedLists)
        : this(path)
    {
        _parsed = parsed;
        ReplacedLists = replacedLists;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Keys of repeatable options a later source sets, whose lists this source leaves out; null when added alone.</summary>
    internal IReadOnlySet<string>? ReplacedLists { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnConfFileParser.ParseFile(Path), ReplacedLists);
}

/// <summary>A coTURN-style command line (<c>-p 3478 --lt-cred-mech</c>) as a configuration source.</summary>
public sealed class TurnServerCommandLineConfigurationSource : IConfigurationSource
{
    private readonly TurnConfigurationLayer? _parsed;

    /// <summary>Parses <paramref name="args"/> when the configuration is built; <c>-c</c>, <c>-n</c>, <c>-h</c> and <c>--version</c> yield no keys.</summary>
    public TurnServerCommandLineConfigurationSource(IReadOnlyList<string> args) => Args = args;

    /// <summary>
    /// A command line already parsed into <paramref name="parsed"/>; its lists named in <paramref name="replacedLists"/> are left
    /// to later sources.
    /// </summary>
    internal TurnServerCommandLineConfigurationSource(IReadOnlyList<string> args, TurnConfigurationLayer parsed, IReadOnlySet<string> replacedLists)
        : this(args)
    {
        _parsed = parsed;
        ReplacedLists = replacedLists;
    }

    /// <summary>The arguments, without the program name.</summary>
    public IReadOnlyList<string> Args { get; }

    /// <summary>Keys of repeatable options a later source sets, whose lists this source leaves out; null when added alone.</summary>
    internal IReadOnlySet<string>? ReplacedLists { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnCommandLineParser.Parse(Args).Layer, ReplacedLists);
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
    /// Variables already parsed into <paramref name="parsed"/>; its lists named in <paramref name="replacedLists"/> are left to
    /// later sources.
    /// </summary>
    internal TurnServerEnvironmentConfigurationSource(TurnConfigurationLayer parsed, IReadOnlySet<string> replacedLists)
    {
        _parsed = parsed;
        ReplacedLists = replacedLists;
    }

    /// <summary>The variables to read; null for the process environment.</summary>
    public IDictionary<string, string?>? Variables { get; }

    /// <summary>Keys of repeatable options a later source sets, whose lists this source leaves out; null when added alone.</summary>
    internal IReadOnlySet<string>? ReplacedLists { get; }

    /// <inheritdoc />
    public IConfigurationProvider Build(IConfigurationBuilder builder) =>
        new TurnServerConfigurationProvider(() => _parsed ?? TurnEnvironmentParser.Parse(Variables ?? TurnServerConfigLoader.ProcessEnvironment()), ReplacedLists);
}
