using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
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

    // One scrape at a time: observable instruments report on the scraping thread, into series no one else writes.
    private readonly Lock _scrapeSync = new();

    // Instruments are published on whichever thread creates them; a scrape takes a copy of the list.
    private readonly Lock _familiesSync = new();
    private readonly Meter _own;
    private readonly MeterListener _listener = new();
    private readonly List<Family> _families = [];
    private readonly Dictionary<string, Family> _byName = new(StringComparer.Ordinal);
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
                Publish(instrument, listener);
            }
        };

        // The source comes with each measurement, so recording looks nothing up in the exporter and takes none of its locks.
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, source) => ((Source)source!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, source) => ((Source)source!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, source) => ((Source)source!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, source) => ((Source)source!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>
    /// Reads every observable instrument now and returns the whole exposition. Measurements recorded meanwhile on other
    /// threads do not wait for it: each series is locked only while it is updated or copied.
    /// </summary>
    public string Scrape()
    {
        lock (_scrapeSync)
        {
            Family[] families;
            lock (_familiesSync)
            {
                families = [.. _families];
            }

            foreach (Family family in families)
            {
                family.BeginScrape();
            }

            RecordObservableInstruments();
            var writer = new PrometheusTextWriter();
            foreach (Family family in families)
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
    /// Adds <paramref name="instrument"/> to the family of its exposed name: a name has one family, which a strict parser
    /// requires, so instruments whose names are one once made valid (<c>a.b</c>, <c>a_b</c>) share it if they are of one
    /// type (and buckets), and a later one of another is left out with a warning.
    /// </summary>
    private void Publish(Instrument instrument, MeterListener listener)
    {
        var source = new Source(instrument, instrument.Meter == _own);
        Family? family;
        bool joined;
        lock (_familiesSync)
        {
            if (!_byName.TryGetValue(source.Name, out family))
            {
                family = new Family(source.Name, source.Help, source.Type, source.Bounds);
                _byName.Add(source.Name, family);
                _families.Add(family);
            }

            joined = family.TryAdd(source);
        }

        if (joined)
        {
            listener.EnableMeasurementEvents(instrument, source);
            return;
        }

        string existing = family.Type == source.Type ? "a histogram with other buckets" : "a " + family.Type.ToString().ToLowerInvariant();
        LogNotExported(_logger, instrument.Name, instrument.Meter.Name, source.Name, existing);
    }

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

    /// <summary>How a measurement changes its series.</summary>
    private enum Change
    {
        /// <summary>Added to the value: a recorded counter or up-down counter.</summary>
        Add,

        /// <summary>Replaces the value: a gauge, observable or recorded.</summary>
        Set,

        /// <summary>Raises the value, never lowers it: an observable counter, which reports its running total.</summary>
        Raise,

        /// <summary>Counted in its bucket and added to the sum: a histogram.</summary>
        Observe,
    }

    /// <summary>
    /// The series of one exposed name, from one instrument or from several whose names are one once made valid: one
    /// <c># HELP</c> and <c># TYPE</c>, the first instrument's.
    /// </summary>
    private sealed class Family(string name, string? help, PrometheusMetricType type, double[] bounds)
    {
        // Replaced, never changed, as instruments join: a scrape reads it while an instrument is published.
        private Source[] _sources = [];

        /// <summary>The family's type, which its instruments share.</summary>
        public PrometheusMetricType Type { get; } = type;

        /// <summary>Adds an instrument's series unless it is of another type, or a histogram with other buckets.</summary>
        public bool TryAdd(Source source)
        {
            if (source.Type != Type || !source.Bounds.AsSpan().SequenceEqual(bounds))
            {
                return false;
            }

            Volatile.Write(ref _sources, [.. _sources, source]);
            return true;
        }

        /// <summary>Before observable instruments are read: marks the series of observable gauges unseen.</summary>
        public void BeginScrape()
        {
            foreach (Source source in Volatile.Read(ref _sources))
            {
                source.BeginScrape();
            }
        }

        /// <summary>Once observable instruments were read: drops the gauge series not reported again.</summary>
        public void ForgetUnseen()
        {
            foreach (Source source in Volatile.Read(ref _sources))
            {
                source.ForgetUnseen();
            }
        }

        /// <summary>
        /// Writes the family's <c># HELP</c> and <c># TYPE</c> lines and every series, from a copy of each taken under its lock
        /// alone; a histogram writes its cumulative buckets, +Inf, sum and count. Series of the same labels, from two
        /// instruments or from tags whose names are one once made valid, are added up: a series may come once.
        /// </summary>
        public void Write(PrometheusTextWriter writer)
        {
            writer.WriteFamily(name, help, Type);
            var readings = new SortedDictionary<string, Series.Reading>(StringComparer.Ordinal);
            foreach (Source source in Volatile.Read(ref _sources))
            {
                foreach (Series.Reading reading in source.Read())
                {
                    readings[reading.Key] = readings.TryGetValue(reading.Key, out Series.Reading earlier) ? earlier.Plus(reading) : reading;
                }
            }

            // A histogram nothing was recorded in yet shows as zero buckets rather than as nothing; that series is not
            // kept, or it would stay beside the labelled ones recorded later.
            if (Type == PrometheusMetricType.Histogram && readings.Count == 0)
            {
                readings.Add(string.Empty, new Series([], bounds.Length).Read());
            }

            foreach (Series.Reading reading in readings.Values)
            {
                if (Type != PrometheusMetricType.Histogram)
                {
                    writer.WriteSample(name, reading.Labels, reading.Value);
                    continue;
                }

                long cumulative = 0;
                for (int i = 0; i < bounds.Length; i++)
                {
                    cumulative += reading.Buckets[i];
                    writer.WriteSample(name + "_bucket", [.. reading.Labels, new("le", PrometheusTextWriter.FormatValue(bounds[i]))], cumulative);
                }

                writer.WriteSample(name + "_bucket", [.. reading.Labels, new("le", "+Inf")], reading.Count);
                writer.WriteSample(name + "_sum", reading.Labels, reading.Value);
                writer.WriteSample(name + "_count", reading.Labels, reading.Count);
            }
        }
    }

    /// <summary>One instrument's series, and how its measurements change them.</summary>
    private sealed class Source
    {
        private readonly Change _change;
        private readonly bool _observable;
        private readonly ConcurrentDictionary<KeyValuePair<string, string>[], Series> _series = new(LabelSetComparer.Instance);
        private readonly ConcurrentDictionary<KeyValuePair<string, string>[], Series>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _byTags;

        /// <summary>
        /// Names and types what <paramref name="instrument"/> is exposed as: counter, histogram or gauge; <paramref name="own"/> (the
        /// server's meter) keeps the name as is and the description as help, others get <c>_total</c> on counters and the unit in
        /// the help.
        /// </summary>
        public Source(Instrument instrument, bool own)
        {
            Type kind = instrument.GetType().GetGenericTypeDefinition();
            _observable = instrument.IsObservable;
            bool gaugeAsCounter = !own && RuntimeGaugesPublishedAsCounters.Contains(instrument.Name);
            Type = (kind == typeof(Counter<>) || kind == typeof(ObservableCounter<>)) && !gaugeAsCounter ? PrometheusMetricType.Counter
                : kind == typeof(Histogram<>) ? PrometheusMetricType.Histogram
                : PrometheusMetricType.Gauge;
            _change = Type switch
            {
                PrometheusMetricType.Histogram => Change.Observe,
                PrometheusMetricType.Counter => _observable ? Change.Raise : Change.Add,
                _ => _observable || kind == typeof(Gauge<>) ? Change.Set : Change.Add,
            };
            string name = PrometheusTextWriter.SanitizeMetricName(instrument.Name);
            if (!own && Type == PrometheusMetricType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
            {
                name += "_total";
            }

            Name = name;
            Help = own || string.IsNullOrEmpty(instrument.Unit) ? instrument.Description : $"{instrument.Description} ({instrument.Unit})";
            Bounds = Type == PrometheusMetricType.Histogram ? BucketsOf(instrument) : [];
            _byTags = _series.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
        }

        /// <summary>The exposed name: the family's.</summary>
        public string Name { get; }

        /// <summary>The <c># HELP</c> text.</summary>
        public string? Help { get; }

        /// <summary>The exposed type.</summary>
        public PrometheusMetricType Type { get; }

        /// <summary>A histogram's bucket bounds; empty for others.</summary>
        public double[] Bounds { get; }

        /// <summary>Before observable instruments are read: marks the series of an observable gauge unseen.</summary>
        public void BeginScrape()
        {
            if (_observable && Type == PrometheusMetricType.Gauge)
            {
                foreach (KeyValuePair<KeyValuePair<string, string>[], Series> pair in _series)
                {
                    pair.Value.Seen = false;
                }
            }
        }

        /// <summary>
        /// Once observable instruments were read: drops the gauge series not reported again, which are gone (a user without
        /// allocations), so that they neither show nor pile up in memory. A counter keeps its last value, as counters do.
        /// </summary>
        public void ForgetUnseen()
        {
            if (_observable && Type == PrometheusMetricType.Gauge)
            {
                foreach (KeyValuePair<KeyValuePair<string, string>[], Series> pair in _series)
                {
                    if (!pair.Value.Seen)
                    {
                        _series.TryRemove(pair);
                    }
                }
            }
        }

        /// <summary>
        /// Records one measurement in the series of <paramref name="tags"/>, on any thread: a histogram observes it, an observable
        /// counter keeps the highest value reported, a gauge (observable or recorded) the last, and a recorded counter or up-down
        /// counter adds it. Only gauges take values that are not finite. Allocates nothing once the series exists.
        /// </summary>
        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Added to a sum or kept as a counter's highest, a NaN or infinity would stay for good; a gauge's next value replaces it.
            if (_change != Change.Set && !double.IsFinite(value))
            {
                return;
            }

            if (!_byTags.TryGetValue(tags, out Series? series))
            {
                series = _series.GetOrAdd(LabelSetComparer.Instance.Create(tags), static (labels, buckets) => new Series(labels, buckets), Bounds.Length);
            }

            series.Apply(_change, value, Bounds);
            series.Seen = true;
        }

        /// <summary>
        /// A copy of each series. Enumerated rather than taken as <c>.Values</c>, which would lock the whole dictionary against
        /// new series meanwhile.
        /// </summary>
        public IEnumerable<Series.Reading> Read() => _series.Select(pair => pair.Value.Read());

        private static double[] BucketsOf(Instrument instrument) => instrument switch
        {
            Histogram<double> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b],
            Histogram<long> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
            Histogram<int> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
            _ => DefaultBuckets,
        };
    }

    /// <summary>
    /// One series: its labels and value, updated under a lock of its own, so recording threads never wait for a scrape,
    /// which holds it only to copy the value.
    /// </summary>
    private sealed class Series
    {
        private readonly Lock _sync = new();
        private readonly long[] _buckets;
        private double _value;
        private long _count;

        /// <summary>A series of the measurement tags <paramref name="tags"/>, sorted by name and value.</summary>
        public Series(KeyValuePair<string, string>[] tags, int buckets)
        {
            _buckets = new long[buckets];
            var labels = new List<KeyValuePair<string, string>>(tags.Length);
            foreach (KeyValuePair<string, string> tag in tags)
            {
                // x.y and x_y are one label name once made valid, which a series may have once: the first is kept.
                string name = PrometheusTextWriter.SanitizeLabelName(tag.Key);
                if (!labels.Exists(label => label.Key == name))
                {
                    labels.Add(new(name, tag.Value));
                }
            }

            labels.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
            Labels = [.. labels];
            Key = string.Concat(Labels.Select(label => label.Key + "\0" + label.Value + "\0"));
        }

        /// <summary>The series' label names, made valid, and values, sorted by name.</summary>
        public KeyValuePair<string, string>[] Labels { get; }

        /// <summary>The labels as one string: the family writes its series in its order and adds up series of the same.</summary>
        public string Key { get; }

        /// <summary>
        /// Whether an observable gauge reported the series at this scrape; read only for those, whose series are written by
        /// the scraping thread alone.
        /// </summary>
        public bool Seen { get; set; }

        /// <summary>
        /// Applies one measurement; a histogram counts it in the first bucket whose upper bound in <paramref name="bounds"/> is
        /// at least <paramref name="value"/> (above the last bound, in the count alone).
        /// </summary>
        public void Apply(Change change, double value, double[] bounds)
        {
            lock (_sync)
            {
                switch (change)
                {
                    case Change.Add:
                        _value += value;
                        break;
                    case Change.Set:
                        _value = value;
                        break;
                    case Change.Raise:
                        _value = Math.Max(_value, value);
                        break;
                    default:
                        int bucket = 0;
                        while (bucket < bounds.Length && value > bounds[bucket])
                        {
                            bucket++;
                        }

                        if (bucket < bounds.Length)
                        {
                            _buckets[bucket]++;
                        }

                        _value += value;
                        _count++;
                        break;
                }
            }
        }

        /// <summary>A copy of the series as it is now.</summary>
        public Reading Read()
        {
            lock (_sync)
            {
                return new Reading(Labels, Key, _value, [.. _buckets], _count);
            }
        }

        /// <summary>A series copied for writing.</summary>
        /// <param name="Labels">The label names and values, sorted by name.</param>
        /// <param name="Key">The labels as one string.</param>
        /// <param name="Value">The counter or gauge value; for a histogram, the sum of observations.</param>
        /// <param name="Buckets">Histogram observations per bucket bound, not cumulative.</param>
        /// <param name="Count">Histogram observations in all, the +Inf bucket.</param>
        public readonly record struct Reading(KeyValuePair<string, string>[] Labels, string Key, double Value, long[] Buckets, long Count)
        {
            /// <summary>This series and <paramref name="other"/>, of the same labels, added up.</summary>
            public Reading Plus(Reading other)
            {
                long[] buckets = [.. Buckets];
                for (int i = 0; i < buckets.Length; i++)
                {
                    buckets[i] += other.Buckets[i];
                }

                return this with { Value = Value + other.Value, Buckets = buckets, Count = Count + other.Count };
            }
        }
    }

    /// <summary>
    /// Compares label sets: a series' labels, sorted by name and value, with each other; and with a measurement's tags, in
    /// any order and without allocating when tag values are strings (other values are formatted to be compared).
    /// </summary>
    private sealed class LabelSetComparer :
        IEqualityComparer<KeyValuePair<string, string>[]>,
        IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, KeyValuePair<string, string>[]>
    {
        /// <summary>The comparer; it keeps no state.</summary>
        public static readonly LabelSetComparer Instance = new();

        /// <inheritdoc />
        public bool Equals(KeyValuePair<string, string>[]? x, KeyValuePair<string, string>[]? y)
        {
            if (x is null || y is null || x.Length != y.Length)
            {
                return x == y;
            }

            for (int i = 0; i < x.Length; i++)
            {
                if (!string.Equals(x[i].Key, y[i].Key, StringComparison.Ordinal) || !string.Equals(x[i].Value, y[i].Value, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        /// <inheritdoc />
        public int GetHashCode(KeyValuePair<string, string>[] labels)
        {
            // A sum, so that the tags' hash is the same in whatever order they come.
            int hash = 0;
            foreach (KeyValuePair<string, string> label in labels)
            {
                hash += HashCode.Combine(label.Key, label.Value);
            }

            return hash;
        }

        /// <inheritdoc />
        public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> tags, KeyValuePair<string, string>[] labels)
        {
            if (tags.Length != labels.Length)
            {
                return false;
            }

            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (!Contains(labels, tag.Key, Text(tag.Value)))
                {
                    return false;
                }
            }

            return true;
        }

        /// <inheritdoc />
        public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            int hash = 0;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                hash += HashCode.Combine(tag.Key, Text(tag.Value));
            }

            return hash;
        }

        /// <inheritdoc />
        public KeyValuePair<string, string>[] Create(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new KeyValuePair<string, string>[tags.Length];
            for (int i = 0; i < tags.Length; i++)
            {
                labels[i] = new(tags[i].Key, Text(tags[i].Value));
            }

            // Tags are a set: their order must not make another series.
            Array.Sort(labels, static (x, y) => string.CompareOrdinal(x.Key, y.Key) is int order and not 0 ? order : string.CompareOrdinal(x.Value, y.Value));
            return labels;
        }

        private static bool Contains(KeyValuePair<string, string>[] labels, string name, string value)
        {
            foreach (KeyValuePair<string, string> label in labels)
            {
                if (string.Equals(label.Key, name, StringComparison.Ordinal) && string.Equals(label.Value, value, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        private static string Text(object? value) => value as string ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "instrument {Instrument} of meter {Meter} is not exported: {Name} is exported already, as {Existing}")]
    private static partial void LogNotExported(ILogger logger, string instrument, string meter, string name, string existing);

    [LoggerMessage(Level = LogLevel.Warning, Message = "metrics callbacks failed, their gauges are left out of the scrape: {Reasons} (not logged again until a scrape has no failures)")]
    private static partial void LogCallbacksFailed(ILogger logger, string reasons, Exception exception);
}
