using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Exposes one source's coTURN options as configuration keys (<see cref="TurnOption.ConfigurationKey"/>): the last
/// value of a single-valued option, every value of a repeatable one as <c>key:0</c>, <c>key:1</c>, ...; a bare flag
/// is the empty string. Keeps where each value came from, and what the source's parser found wrong.
/// </summary>
public sealed class TurnServerConfigurationProvider : ConfigurationProvider
{
    private readonly Func<TurnConfigurationLayer> _parse;
    private readonly IReadOnlyDictionary<string, int> _firstListIndexes;
    private TurnConfigurationLayer? _layer;
    private Dictionary<string, string> _origins = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// A provider whose layer comes from <paramref name="parse"/> (run once, on first use); the values of a repeatable
    /// option whose key is in <paramref name="firstListIndexes"/> are numbered from that index, so that they follow an
    /// earlier source's values of the option instead of overwriting them.
    /// </summary>
    internal TurnServerConfigurationProvider(Func<TurnConfigurationLayer> parse, IReadOnlyDictionary<string, int>? firstListIndexes)
    {
        _parse = parse;
        _firstListIndexes = firstListIndexes ?? new Dictionary<string, int>();
    }

    /// <summary>Where each key's value came from (<c>path:line</c>, <c>environment variable NAME</c>, <c>command line (-p)</c>), keyed like the data.</summary>
    public IReadOnlyDictionary<string, string> Origins => _origins;

    /// <summary>Warnings from parsing the source (unknown options, with their line).</summary>
    public IReadOnlyList<string> Warnings => Layer.Warnings;

    /// <summary>Errors from parsing the source (an unreadable file, a missing value).</summary>
    public IReadOnlyList<string> Errors => Layer.Errors;

    /// <summary>The parsed source, parsed on first use.</summary>
    internal TurnConfigurationLayer Layer => _layer ??= _parse();

    /// <inheritdoc />
    public override void Load()
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var origins = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (IGrouping<TurnOption, TurnConfigurationEntry> occurrences in Layer.Entries.GroupBy(e => e.Option))
        {
            string key = occurrences.Key.ConfigurationKey!;
            if (!occurrences.Key.Repeatable)
            {
                TurnConfigurationEntry last = occurrences.Last();
                data[key] = last.Value;
                origins[key] = last.Origin;
            }
            else
            {
                int index = _firstListIndexes.GetValueOrDefault(key);
                foreach (TurnConfigurationEntry entry in occurrences)
                {
                    string itemKey = key + ConfigurationPath.KeyDelimiter + index.ToString(CultureInfo.InvariantCulture);
                    data[itemKey] = entry.Value;
                    origins[itemKey] = entry.Origin;
                    index++;
                }
            }
        }

        Data = data;
        _origins = origins;
    }
}
