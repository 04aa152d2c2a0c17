using System.Collections.Frozen;
using System.Globalization;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Reads options from environment variables named <c>TURNSERVER_</c> + the option name with <c>-</c> written as
/// <c>_</c>: <c>TURNSERVER_LISTENING_PORT=3479</c>. The prefix and the name match case-insensitively, and <c>_</c>
/// matches both <c>-</c> and <c>_</c> (<c>TURNSERVER_NO_TLSV1_1</c> is <c>no-tlsv1_1</c>). coTURN's only pair of names
/// differing by case alone, <c>verbose</c> and <c>Verbose</c>, is told apart thus: a name matching an option with its
/// exact letter case wins (<c>TURNSERVER_Verbose</c> is <c>Verbose</c>, extra verbose); otherwise the all-lowercase
/// option wins (<c>TURNSERVER_VERBOSE</c> is <c>verbose</c>). An empty value is a bare flag, or for a text or number
/// option not given at all (<see cref="TurnOption.EmptyMeansNotGiven"/>). Repeatable options take
/// one value per variable, either <c>TURNSERVER_USER</c> or indexed as configuration binding does it,
/// <c>TURNSERVER_USER__0</c>, <c>TURNSERVER_USER__1</c>, ordered by index. Kubernetes service-link variables
/// (<c>TURNSERVER_CLI_PORT=tcp://10.0.0.1:5766</c> for a Service named <c>turnserver-cli</c>) are skipped, see
/// <see cref="KubernetesServiceLinks"/>.
/// </summary>
internal static class TurnEnvironmentParser
{
    /// <summary>The prefix of every variable read, matched case-insensitively.</summary>
    public const string Prefix = "TURNSERVER_";

    private static readonly FrozenDictionary<string, TurnOption> ByNormalizedName = TurnOptionTable.LongNames
        .Where(n => !n.Value.CommandLineOnly)
        .GroupBy(n => Normalize(n.Key))
        .ToFrozenDictionary(g => g.Key, g => g.OrderBy(n => n.Key.Any(char.IsUpper)).First().Value);

    /// <summary>
    /// Reads the <c>TURNSERVER_*</c> variables of <paramref name="variables"/> (others are skipped); never throws: problems
    /// become warnings.
    /// </summary>
    public static TurnConfigurationLayer Parse(IEnumerable<KeyValuePair<string, string?>> variables)
    {
        var layer = new TurnConfigurationLayer();
        var found = new List<(TurnOption Option, int Index, string Value, string Origin)>();
        foreach ((string variable, string? value) in variables.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            if (!variable.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) || variable.Length == Prefix.Length)
            {
                continue;
            }

            // Kubernetes sets these for a Service named turnserver-...; they are not addressed to the server.
            if (KubernetesServiceLinks.IsServiceLink(variable, value))
            {
                continue;
            }

            string origin = "environment variable " + variable;
            string name = variable[Prefix.Length..];
            int index = -1;
            int separator = name.IndexOf("__", StringComparison.Ordinal);
            if (separator >= 0)
            {
                string indexText = name[(separator + 2)..];
                name = name[..separator];
                if (!int.TryParse(indexText, NumberStyles.None, CultureInfo.InvariantCulture, out index))
                {
                    layer.Warnings.Add($"{origin}: '{indexText}' is not a list index; ignored");
                    continue;
                }
            }

            if (!TryFind(name, out TurnOption? option))
            {
                layer.Warnings.Add($"{origin}: unknown option ignored");
                continue;
            }

            if (index >= 0 && !option.Repeatable)
            {
                layer.Warnings.Add($"{origin}: option '{option.Name}' takes one value, not a list; ignored");
                continue;
            }

            found.Add((option, index, value ?? "", origin));
        }

        // OrderBy is stable: unindexed values come first, indexed ones follow in numeric order.
        foreach ((TurnOption option, _, string value, string origin) in found.OrderBy(f => f.Index))
        {
            layer.Add(option, value, origin);
        }

        return layer;
    }

    private static bool TryFind(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TurnOption? option)
    {
        string dashed = name.Replace('_', '-');
        foreach ((string longName, TurnOption candidate) in TurnOptionTable.LongNames)
        {
            if (!candidate.CommandLineOnly && longName.Replace('_', '-') == dashed)
            {
                option = candidate;
                return true;
            }
        }

        return ByNormalizedName.TryGetValue(Normalize(name), out option);
    }

    private static string Normalize(string name) => name.Replace('_', '-').ToLowerInvariant();
}
