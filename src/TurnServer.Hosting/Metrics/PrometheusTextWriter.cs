using System.Globalization;
using System.Text;

namespace TurnServer.Hosting.Metrics;

/// <summary>The kind of a metric family, as the <c># TYPE</c> line names it.</summary>
public enum PrometheusMetricType
{
    /// <summary>A value that only goes up (restarting from 0 with the process).</summary>
    Counter,

    /// <summary>A value that goes up and down.</summary>
    Gauge,

    /// <summary>Cumulative buckets plus <c>_sum</c> and <c>_count</c>.</summary>
    Histogram,
}

/// <summary>
/// Writes the Prometheus text exposition format, version 0.0.4 (content type <c>text/plain; version=0.0.4</c>): per
/// family one <c># HELP</c> line, one <c># TYPE</c> line and its samples, each <c>name{label="value",...} value</c>, lines
/// ending in <c>\n</c>. Help text escapes <c>\</c> and newline; label values also escape <c>"</c>. Names are written as
/// given, after replacing characters the format does not allow by <c>_</c>.
/// </summary>
public sealed class PrometheusTextWriter
{
    /// <summary>The HTTP content type of this format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _text = new();

    /// <summary>Starts a metric family: its <c># HELP</c> and <c># TYPE</c> lines.</summary>
    public void WriteFamily(string name, string? help, PrometheusMetricType type)
    {
        ArgumentNullException.ThrowIfNull(name);
        string metric = SanitizeMetricName(name);
        _text.Append("# HELP ").Append(metric).Append(' ');
        AppendEscaped(help ?? string.Empty, escapeQuotes: false);
        _text.Append('\n');
        _text.Append("# TYPE ").Append(metric).Append(' ').Append(type switch
        {
            PrometheusMetricType.Counter => "counter",
            PrometheusMetricType.Gauge => "gauge",
            _ => "histogram",
        }).Append('\n');
    }

    /// <summary>Writes one sample line; <paramref name="labels"/> may be empty.</summary>
    public void WriteSample(string name, IReadOnlyList<KeyValuePair<string, string>> labels, double value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(labels);
        _text.Append(SanitizeMetricName(name));
        if (labels.Count > 0)
        {
            _text.Append('{');
            for (int i = 0; i < labels.Count; i++)
            {
                if (i > 0)
                {
                    _text.Append(',');
                }

                _text.Append(SanitizeLabelName(labels[i].Key)).Append("=\"");
                AppendEscaped(labels[i].Value, escapeQuotes: true);
                _text.Append('"');
            }

            _text.Append('}');
        }

        _text.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    /// <summary>Everything written so far.</summary>
    public override string ToString() => _text.ToString();

    /// <summary>A number as the format writes it: integers without a decimal point, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ when value == Math.Floor(value) && Math.Abs(value) < 1e15 => ((long)value).ToString(CultureInfo.InvariantCulture),
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>A metric name matching <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>: other characters (the dots of OpenTelemetry names) become <c>_</c>.</summary>
    public static string SanitizeMetricName(string name) => Sanitize(name, allowColon: true);

    /// <summary>A label name matching <c>[a-zA-Z_][a-zA-Z0-9_]*</c>.</summary>
    public static string SanitizeLabelName(string name) => Sanitize(name, allowColon: false);

    private static string Sanitize(string name, bool allowColon)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            return "_";
        }

        var builder = new StringBuilder(name.Length + 1);
        if (char.IsAsciiDigit(name[0]))
        {
            builder.Append('_');
        }

        foreach (char c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }

        return builder.ToString();
    }

    private void AppendEscaped(string text, bool escapeQuotes)
    {
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\':
                    _text.Append(@"\\");
                    break;
                case '\n':
                    _text.Append(@"\n");
                    break;
                case '"' when escapeQuotes:
                    _text.Append("\\\"");
                    break;
                default:
                    _text.Append(c);
                    break;
            }
        }
    }
}
