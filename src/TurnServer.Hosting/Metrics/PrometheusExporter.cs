using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace TurnServer.Hosting.Metrics;

/// <summary>
/// Turns <see cref="System.Diagnostics.Metrics"/> instruments into the Prometheus text format. A
/// <see cref="MeterListener"/> takes the server's meter and .NET's <c>System.Runtime</c> meter (GC, threads, JIT).
/// Observable instruments are read at scrape time, so counters kept as plain fields on the hot path cost nothing until
/// scraped; counters and histograms that are recorded as they happen are summed here.
/// <para>
/// Naming: instruments of the server's meter keep their names exactly (coTURN's <c>turn_traffic_rcvp</c> has no
/// <c>_total</c>, the server's own counters are named with one). Other meters' dotted names get <c>_</c> for <c>.</c>
/// and counters get <c>_total</c>, as OpenTelemetry's Prometheus exporter names them.
/// </para>
/// <para>
/// A counter is never reported lower than at the previous scrape: traffic counters sum finished and live allocations,
/// and an allocation that ends during a scrape could otherwise be missed once, which Prometheus would read as a reset.
/// </para>
/// </summary>
public sealed partial class PrometheusExporter : IDisposable
{
    /// <summary>The .NET runtime's meter (GC, thread pool, JIT, exceptions), published since .NET 9.</summary>
    public const string RuntimeMeterName = "System.Runtime";

    // The runtime publishes these as observable counters by mistake (dotnet/runtime#112077): they go down as well as up.
    private static readonly string[] RuntimeGaugesPublishedAsCounters = ["dotnet.thread_pool.thread.count", "dotnet.thread_pool.queue.length"];

    private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly object _sync = new();
    private readonly Meter _own;
    private readonly MeterListener _listener = new();
    private readonly List<Family> _families = [];
    private readonly Dictionary<Instrument, Family> _byInstrument = [];
    private readonly ILogger _logger;
    private bool _callbacksFailing;

    /// <summary>
    /// Starts listening to <paramref name="own"/> and to <see cref="RuntimeMeterName"/>; <paramref name="logger"/> hears of
    /// observable instruments whose callbacks fail.
    /// </summary>
    public PrometheusExporter(Meter own, ILogger logger)
    {
        _own = own ?? throw new ArgumentNullException(nameof(own));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == _own || instrument.Meter.Name == RuntimeMeterName)
            {
                lock (_sync)
                {
                    var family = new Family(instrument, instrument.Meter == _own);
                    _families.Add(family);
                    _byInstrument[instrument] = family;
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    /// <summary>Reads every observable instrument now and returns the whole exposition.</summary>
    public string Scrape()
    {
        lock (_sync)
        {
            foreach (Family family in _families)
            {
                family.BeginScrape();
            }

            RecordObservableInstruments();
            var writer = new PrometheusTextWriter();
            foreach (Family family in _families)
            {
                family.ForgetUnseen();
                family.Write(writer);
            }

            return writer.ToString();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();

    /// <summary>
    /// Runs every observable instrument's callback. The listener runs them all and then throws if any threw: those
    /// report nothing new (their gauges are left out, their counters keep the last value) and the rest is written. Logged
    /// once until a scrape has no failures, so a callback failing at every scrape does not flood the log.
    /// </summary>
    private void RecordObservableInstruments()
    {
        try
        {
            _listener.RecordObservableInstruments();
            _callbacksFailing = false;
        }
        catch (AggregateException e)
        {
            if (!_callbacksFailing)
            {
                _callbacksFailing = true;
                LogCallbacksFailed(_logger, string.Join("; ", e.InnerExceptions.Select(inner => inner.Message)), e);
            }
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_sync)
        {
            if (_byInstrument.TryGetValue(instrument, out Family? family))
            {
                family.Record(value, tags);
            }
        }
    }

    private sealed class Family
    {
        private readonly Instrument _instrument;
        private readonly PrometheusMetricType _type;
        private readonly string _name;
        private readonly string? _help;
        private readonly bool _observable;
        private readonly bool _recordedGauge;
        private readonly double[] _bounds;
        private readonly SortedDictionary<string, Series> _series = new(StringComparer.Ordinal);

        /// <summary>
        /// Names and types the family of <paramref name="instrument"/>: counter, histogram or gauge; <paramref name="own"/> (the server's
        /// meter) keeps the name as is and the description as help, others get <c>_total</c> on counters and the unit in the help.
        /// </summary>
        public Family(Instrument instrument, bool own)
        {
            _instrument = instrument;
            Type kind = instrument.GetType().GetGenericTypeDefinition();
            _observable = instrument.IsObservable;
            _recordedGauge = kind == typeof(Gauge<>);
            bool gaugeAsCounter = !own && RuntimeGaugesPublishedAsCounters.Contains(instrument.Name);
            _type = (kind == typeof(Counter<>) || kind == typeof(ObservableCounter<>)) && !gaugeAsCounter ? PrometheusMetricType.Counter
                : kind == typeof(Histogram<>) ? PrometheusMetricType.Histogram
                : PrometheusMetricType.Gauge;
            string name = PrometheusTextWriter.SanitizeMetricName(instrument.Name);
            if (!own && _type == PrometheusMetricType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
            {
                name += "_total";
            }

            _name = name;
            _help = own || string.IsNullOrEmpty(instrument.Unit) ? instrument.Description : $"{instrument.Description} ({instrument.Unit})";
            _bounds = _type == PrometheusMetricType.Histogram ? BucketsOf(instrument) : [];
        }

        /// <summary>Before observable instruments are read: marks the series of an observable gauge unseen.</summary>
        public void BeginScrape()
        {
            if (_observable && _type == PrometheusMetricType.Gauge)
            {
                foreach (Series series in _series.Values)
                {
                    series.Seen = false;
                }
            }
        }

        /// <summary>
        /// Once observable instruments were read: drops the gauge series not reported again, which are gone (a user without
        /// allocations), so that they neither show nor pile up in memory. A counter keeps its last value, as counters do.
        /// </summary>
        public void ForgetUnseen()
        {
            if (_observable && _type == PrometheusMetricType.Gauge)
            {
                foreach (string key in _series.Where(pair => !pair.Value.Seen).Select(pair => pair.Key).ToList())
                {
                    _series.Remove(key);
                }
            }
        }

        /// <summary>
        /// Records one measurement in the series of <paramref name="tags"/>: a histogram observes it, an observable counter keeps the
        /// highest value reported, a gauge (observable or recorded) the last, and a recorded counter or up-down counter adds it.
        /// Only gauges take values that are not finite.
        /// </summary>
        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            bool takesLast = _type == PrometheusMetricType.Gauge && (_observable || _recordedGauge);

            // Added to a sum or kept as a counter's highest, a NaN or infinity would stay for good; a gauge's next value replaces it.
            if (!takesLast && !double.IsFinite(value))
            {
                return;
            }

            KeyValuePair<string, string>[] labels = Labels(tags);
            string key = LabelKey(labels);
            if (!_series.TryGetValue(key, out Series? series))
            {
                series = new Series(labels, _bounds.Length);
                _series.Add(key, series);
            }

            series.Seen = true;
            switch (_type)
            {
                case PrometheusMetricType.Histogram:
                    series.Observe(value, _bounds);
                    break;
                case PrometheusMetricType.Counter when _observable:
                    series.Value = Math.Max(series.Value, value);
                    break;
                case PrometheusMetricType.Gauge when takesLast:
                    series.Value = value;
                    break;
                default:
                    series.Value += value;
                    break;
            }
        }

        /// <summary>
        /// Writes the family's <c># HELP</c> and <c># TYPE</c> lines and every series; a histogram writes its cumulative
        /// buckets, +Inf, sum and count.
        /// </summary>
        public void Write(PrometheusTextWriter writer)
        {
            writer.WriteFamily(_name, _help, _type);

            // A histogram nothing was recorded in yet shows as zero buckets rather than as nothing; that series is not
            // kept, or it would stay beside the labelled ones recorded later.
            IEnumerable<Series> written = _type == PrometheusMetricType.Histogram && _series.Count == 0
                ? [new Series([], _bounds.Length)]
                : _series.Values;
            foreach (Series series in written)
            {
                if (_type != PrometheusMetricType.Histogram)
                {
                    writer.WriteSample(_name, series.Labels, series.Value);
                    continue;
                }

                long cumulative = 0;
                for (int i = 0; i < _bounds.Length; i++)
                {
                    cumulative += series.Buckets[i];
                    writer.WriteSample(_name + "_bucket", [.. series.Labels, new("le", PrometheusTextWriter.FormatValue(_bounds[i]))], cumulative);
                }

                writer.WriteSample(_name + "_bucket", [.. series.Labels, new("le", "+Inf")], series.Count);
                writer.WriteSample(_name + "_sum", series.Labels, series.Value);
                writer.WriteSample(_name + "_count", series.Labels, series.Count);
            }
        }

        private static double[] BucketsOf(Instrument instrument) => instrument switch
        {
            Histogram<double> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b],
            Histogram<long> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
            Histogram<int> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
            _ => DefaultBuckets,
        };

        /// <summary>The tags as label values, sorted by name: tags are a set, so their order must not make another series.</summary>
        private static KeyValuePair<string, string>[] Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new KeyValuePair<string, string>[tags.Length];
            for (int i = 0; i < tags.Length; i++)
            {
                labels[i] = new(tags[i].Key, Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? string.Empty);
            }

            Array.Sort(labels, (x, y) => string.CompareOrdinal(x.Key, y.Key));
            return labels;
        }

        private static string LabelKey(KeyValuePair<string, string>[] labels)
        {
            if (labels.Length == 0)
            {
                return string.Empty;
            }

            var key = new StringBuilder();
            foreach (KeyValuePair<string, string> label in labels)
            {
                key.Append(label.Key).Append('\0').Append(label.Value).Append('\0');
            }

            return key.ToString();
        }
    }

    private sealed class Series(KeyValuePair<string, string>[] labels, int buckets)
    {
        /// <summary>The series' label names and values, sorted by name.</summary>
        public KeyValuePair<string, string>[] Labels { get; } = labels;

        /// <summary>The counter or gauge value; for a histogram, the sum of observations.</summary>
        public double Value { get; set; }

        /// <summary>Histogram observations per bucket bound, not cumulative; those above the last bound are only in <see cref="Count"/>.</summary>
        public long[] Buckets { get; } = new long[buckets];

        /// <summary>Histogram observations in all, the +Inf bucket.</summary>
        public long Count { get; private set; }

        /// <summary>Whether an observable gauge reported the series at this scrape.</summary>
        public bool Seen { get; set; }

        /// <summary>
        /// Adds a histogram observation to the first bucket whose upper bound in <paramref name="bounds"/> is at least
        /// <paramref name="value"/>.
        /// </summary>
        public void Observe(double value, double[] bounds)
        {
            int bucket = 0;
            while (bucket < bounds.Length && value > bounds[bucket])
            {
                bucket++;
            }

            if (bucket < bounds.Length)
            {
                Buckets[bucket]++;
            }

            Value += value;
            Count++;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "metrics callbacks failed, their gauges are left out of the scrape: {Reasons} (not logged again until a scrape has no failures)")]
    private static partial void LogCallbacksFailed(ILogger logger, string reasons, Exception exception);
}
