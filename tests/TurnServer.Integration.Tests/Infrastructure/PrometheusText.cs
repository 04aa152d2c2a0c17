using System.Globalization;
using System.Text.RegularExpressions;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// A strict reader of the Prometheus text format 0.0.4, for checking a scrape line by line: every line is a
/// <c># HELP</c>, a <c># TYPE</c> or a sample; a family's HELP and TYPE come once and before its samples; a series (name
/// and label set, in any order) has one sample; names and label names are valid; label values are properly escaped;
/// values parse; histogram buckets are cumulative and end in <c>le="+Inf"</c> equal to <c>_count</c>.
/// </summary>
internal sealed partial class PrometheusText
{
    private readonly Dictionary<string, string> _types = [];
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    private PrometheusText()
    {
    }

    public IReadOnlyDictionary<string, string> Types => _types;

    public static PrometheusText Parse(string text)
    {
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        var result = new PrometheusText();
        var helped = new HashSet<string>();
        var closed = new HashSet<string>();
        var series = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        foreach (string line in text[..^1].Split('\n'))
        {
            Match help = HelpLine().Match(line);
            Match type = TypeLine().Match(line);
            if (help.Success)
            {
                string name = help.Groups[1].Value;
                Assert.True(helped.Add(name), "a second HELP for " + name);
                Assert.DoesNotContain(name, closed);
                StartFamily(name);
                continue;
            }

            if (type.Success)
            {
                string name = type.Groups[1].Value;
                Assert.True(result._types.TryAdd(name, type.Groups[2].Value), "a second TYPE for " + name);
                StartFamily(name);
                continue;
            }

            Match sample = SampleLine().Match(line);
            Assert.True(sample.Success, "not a valid line: " + line);
            string metric = sample.Groups[1].Value;
            string family = FamilyOf(metric);
            Assert.True(family == current, $"sample {metric} outside its family ({current})");
            var labels = new Dictionary<string, string>();
            foreach (Match label in LabelPair().Matches(sample.Groups[2].Value))
            {
                Assert.True(labels.TryAdd(label.Groups[1].Value, Unescape(label.Groups[2].Value)), "repeated label in " + line);
            }

            string identity = metric + "\0" + string.Join("\0", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "\0" + l.Value));
            Assert.True(series.Add(identity), "a second sample of the same series: " + line);

            string value = sample.Groups[3].Value;
            double parsed = value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            result._samples.Add((metric, labels, parsed));
        }

        result.CheckHistograms();
        return result;

        void StartFamily(string name)
        {
            if (current != name && current is not null)
            {
                closed.Add(current);
            }

            Assert.DoesNotContain(name, closed);
            current = name;
        }

        string FamilyOf(string metric)
        {
            foreach (string suffix in new[] { "_bucket", "_sum", "_count" })
            {
                if (metric.EndsWith(suffix, StringComparison.Ordinal) && result._types.GetValueOrDefault(metric[..^suffix.Length]) == "histogram")
                {
                    return metric[..^suffix.Length];
                }
            }

            return metric;
        }
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Key, string Value)[] labels) =>
        Assert.Single(_samples, s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)).Value;

    public IEnumerable<Dictionary<string, string>> LabelSets(string name) => _samples.Where(s => s.Name == name).Select(s => s.Labels);

    private void CheckHistograms()
    {
        foreach (string histogram in _types.Where(t => t.Value == "histogram").Select(t => t.Key))
        {
            double previous = 0;
            var buckets = _samples.Where(s => s.Name == histogram + "_bucket").ToList();
            Assert.NotEmpty(buckets);
            foreach ((_, Dictionary<string, string> labels, double value) in buckets)
            {
                Assert.True(value >= previous, histogram + " buckets are not cumulative");
                Assert.True(labels.ContainsKey("le"));
                previous = value;
            }

            Assert.Equal("+Inf", buckets[^1].Labels["le"]);
            Assert.Equal(Value(histogram + "_count"), buckets[^1].Value);
        }
    }

    private static string Unescape(string value) => value.Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);

    [GeneratedRegex(@"^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (?:[^\\\n]|\\\\|\\n)*$")]
    private static partial Regex HelpLine();

    [GeneratedRegex(@"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\\n]|\\\\|\\""|\\n)*"",?)*\})? ([^ ]+)$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\\\|\\""|\\n)*)""")]
    private static partial Regex LabelPair();
}
