namespace TurnServer.Hosting.Configuration;

/// <summary>One option occurrence, with the value as written ("" for a bare flag) and where it came from.</summary>
/// <param name="Option">The option.</param>
/// <param name="Value">The value, quotes and surrounding blanks removed; "" when none was given.</param>
/// <param name="Origin">Where it was written, for messages: <c>path:line</c>, <c>environment variable NAME</c> or <c>command line (--name)</c>.</param>
internal sealed record TurnConfigurationEntry(TurnOption Option, string Value, string Origin);

/// <summary>The options one source (file, environment, command line) gave, in order, with what its parser found wrong.</summary>
internal sealed class TurnConfigurationLayer
{
    /// <summary>Every option occurrence, in the order written.</summary>
    public List<TurnConfigurationEntry> Entries { get; } = [];

    /// <summary>Problems that do not stop loading (unknown options and stray arguments ignored), each naming where.</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>What makes the configuration unusable (an unreadable file, a missing value), each naming where; loading fails.</summary>
    public List<string> Errors { get; } = [];

    /// <summary>
    /// Adds an occurrence to <see cref="Entries"/>, except an empty value of an option for which it means not given
    /// (<see cref="TurnOption.EmptyMeansNotGiven"/>): that one becomes a warning naming the option and where.
    /// </summary>
    public void Add(TurnOption option, string value, string origin)
    {
        if (value.Length == 0 && option.EmptyMeansNotGiven)
        {
            Warnings.Add($"{origin}: option '{option.Name}' has an empty value; ignored, as if not given");
            return;
        }

        Entries.Add(new TurnConfigurationEntry(option, value, origin));
    }
}
