namespace TurnServer.Hosting.Configuration;

/// <summary>Whether an option takes a value, as coTURN's <c>getopt_long</c> table declares it.</summary>
public enum TurnOptionArgument
{
    /// <summary>The option never takes a value (<c>-n</c>, <c>-h</c>).</summary>
    None,

    /// <summary>
    /// The option needs a value: <c>--name=value</c> or <c>--name value</c> on the command line,
    /// <c>name=value</c> or <c>name value</c> in turnserver.conf.
    /// </summary>
    Required,

    /// <summary>
    /// The value may be left out. On the command line it is given only as <c>--name=value</c>
    /// (getopt semantics: <c>--stale-nonce 300</c> does not pass 300). Flags are of this kind.
    /// </summary>
    Optional,
}
