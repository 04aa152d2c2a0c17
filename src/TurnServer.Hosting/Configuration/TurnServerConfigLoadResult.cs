using Microsoft.Extensions.Configuration;

namespace TurnServer.Hosting.Configuration;

/// <summary>What <see cref="TurnServerConfigLoader.Load(IReadOnlyList{string}, IDictionary{string, string}, Func{IEnumerable{string}})"/> found.</summary>
public sealed class TurnServerConfigLoadResult
{
    /// <summary>Results are made only by <see cref="TurnServerConfigLoader"/>.</summary>
    internal TurnServerConfigLoadResult()
    {
    }

    /// <summary>The validated settings; null when <see cref="Errors"/> is not empty or help or the version was asked for.</summary>
    public TurnServerSettings? Settings { get; init; }

    /// <summary>Every error, each naming the option, the value and where it came from (<c>turnserver.conf:42: invalid value ...</c>).</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    /// <summary>Warnings: unknown and not-yet-implemented options, ignored arguments, what coTURN's rules implied.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary><c>-h</c> or <c>--help</c> was given: print <see cref="TurnServerHelp"/> and exit; nothing else was read.</summary>
    public bool HelpRequested { get; init; }

    /// <summary><c>--version</c> was given: print the version and exit; nothing else was read.</summary>
    public bool VersionRequested { get; init; }

    /// <summary>
    /// The layered configuration (turnserver.conf, then <c>TURNSERVER_*</c> environment variables, then the command line),
    /// keyed by <see cref="TurnOption.ConfigurationKey"/>; a repeatable option's list holds the values of every layer, in that order.
    /// </summary>
    public required IConfiguration Configuration { get; init; }

    /// <summary>Where each configuration key's value came from: <c>path:line</c>, <c>environment variable NAME</c> or <c>command line (--name)</c>.</summary>
    public IReadOnlyDictionary<string, string> ValueOrigins { get; init; } = new Dictionary<string, string>();
}
