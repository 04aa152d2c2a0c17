using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using TurnServer.Hosting.Metrics;
using TurnServer.Hosting.Tests.Infrastructure;

namespace TurnServer.Hosting.Tests.Metrics;

/// <summary>Regressions in how the exporter collects and writes measurements.</summary>
public sealed class PrometheusExporterTests : IDisposable
{
    private readonly Meter _meter = new("test-" + Guid.NewGuid());
    private readonly LineLogger _log = new();
    private string? _sessionUser;

    public void Dispose() => _meter.Dispose();

    /// <summary>
    /// Regression: the listener throws once every callback has run if any of them threw, and the scrape let it through,
    /// so /metrics answered 500 with nothing; a callback reading /proc can throw.
    /// </summary>
    [Fact]
    public void A_throwing_callback_leaves_out_its_own_metric_only_and_is_logged_once_while_it_keeps_failing()
    {
        Func<long> broken = () => throw new IOException("no /proc here");
        _meter.CreateObservableGauge("broken", broken, description: "fails");
        _meter.CreateObservableGauge("fine", () => 7L, description: "works");
        using var exporter = new PrometheusExporter(_meter, _log);

        string scrape = exporter.Scrape();
        exporter.Scrape();

        Assert.Contains("\nfine 7\n", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE broken gauge\n", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain("\nbroken ", scrape, StringComparison.Ordinal);
        string warning = Assert.Single(_log.Lines);
        Assert.StartsWith("Warning: ", warning, StringComparison.Ordinal);
        Assert.Contains("no /proc here", warning, StringComparison.Ordinal);
    }

    /// <summary>Regression: the same tags given in another order made a second series with the same labels.</summary>
    [Fact]
    public void Tags_in_any_order_are_one_series_with_labels_sorted_by_name()
    {
        Counter<long> counter = _meter.CreateCounter<long>("requests");
        using var exporter = new PrometheusExporter(_meter, _log);

        counter.Add(1, new("b", "2"), new("a", "1"));
        counter.Add(1, new("a", "1"), new("b", "2"));

        Assert.Equal(["# TYPE requests counter", "requests{a=\"1\",b=\"2\"} 2"], Lines(exporter.Scrape(), "requests"));
    }

    /// <summary>Regression: a recorded gauge added its values up, as an up-down counter does, instead of taking the last.</summary>
    [Fact]
    public void A_recorded_gauge_takes_the_last_value_and_an_up_down_counter_adds()
    {
        Gauge<long> gauge = _meter.CreateGauge<long>("queue_depth");
        UpDownCounter<long> upDown = _meter.CreateUpDownCounter<long>("sessions");
        using var exporter = new PrometheusExporter(_meter, _log);

        gauge.Record(5);
        gauge.Record(3);
        upDown.Add(5);
        upDown.Add(-2);

        string scrape = exporter.Scrape();
        Assert.Equal(["# TYPE queue_depth gauge", "queue_depth 3"], Lines(scrape, "queue_depth"));
        Assert.Equal(["# TYPE sessions gauge", "sessions 3"], Lines(scrape, "sessions"));
    }

    /// <summary>
    /// Regression: a NaN reported once kept an observable counter NaN for good (the highest of NaN and anything is NaN), and
    /// a NaN or infinite observation made a histogram's sum so for good. Counters and histograms take finite values only.
    /// </summary>
    [Fact]
    public void Values_that_are_not_finite_are_ignored_by_counters_and_histograms()
    {
        double reported = 3;
        _meter.CreateObservableCounter("observed", () => reported);
        Counter<double> counter = _meter.CreateCounter<double>("added");
        Histogram<double> histogram = _meter.CreateHistogram("latency", unit: null, description: null, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });
        using var exporter = new PrometheusExporter(_meter, _log);

        exporter.Scrape();
        reported = double.NaN;
        string duringNaN = exporter.Scrape();
        reported = 5;
        counter.Add(2);
        counter.Add(double.NaN);
        counter.Add(double.PositiveInfinity);
        histogram.Record(0.5);
        histogram.Record(double.NaN);
        histogram.Record(double.PositiveInfinity);
        string scrape = exporter.Scrape();

        Assert.Equal(["# TYPE observed counter", "observed 3"], Lines(duringNaN, "observed"));
        Assert.Equal(["# TYPE observed counter", "observed 5"], Lines(scrape, "observed"));
        Assert.Equal(["# TYPE added counter", "added 2"], Lines(scrape, "added"));
        Assert.Equal(
            ["# TYPE latency histogram", "latency_bucket{le=\"1\"} 1", "latency_bucket{le=\"+Inf\"} 1", "latency_sum 0.5", "latency_count 1"],
            Lines(scrape, "latency"));
    }

    /// <summary>
    /// Regression: the zero series an empty histogram is shown with was stored, so it stayed, unlabelled and at zero, beside
    /// the labelled series recorded later.
    /// </summary>
    [Fact]
    public void An_empty_histogram_shows_zero_until_its_first_series_and_then_only_that()
    {
        Histogram<long> histogram = _meter.CreateHistogram("wait", unit: null, description: null, tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1] });
        using var exporter = new PrometheusExporter(_meter, _log);

        string empty = exporter.Scrape();
        histogram.Record(1, new KeyValuePair<string, object?>("queue", "a"));
        string recorded = exporter.Scrape();

        Assert.Equal(
            ["# TYPE wait histogram", "wait_bucket{le=\"1\"} 0", "wait_bucket{le=\"+Inf\"} 0", "wait_sum 0", "wait_count 0"],
            Lines(empty, "wait"));
        Assert.Equal(
            ["# TYPE wait histogram", "wait_bucket{queue=\"a\",le=\"1\"} 1", "wait_bucket{queue=\"a\",le=\"+Inf\"} 1", "wait_sum{queue=\"a\"} 1", "wait_count{queue=\"a\"} 1"],
            Lines(recorded, "wait"));
    }

    /// <summary>
    /// Regression: a gauge series no longer reported (a user whose sessions ended) was left out of the scrape but kept
    /// for good, so with usernames new every session (TURN REST) the exporter's memory grew without end.
    /// </summary>
    [Fact]
    public void A_gauge_series_no_longer_reported_is_let_go()
    {
        Func<IEnumerable<Measurement<long>>> sessions = () => _sessionUser is { } user ? [new Measurement<long>(1, new KeyValuePair<string, object?>("user", user))] : [];
        _meter.CreateObservableGauge("sessions", sessions);
        using var exporter = new PrometheusExporter(_meter, _log);
        WeakReference user = StartSessionOfNewUser();
        Assert.Matches("^sessions\\{user=\"user-[0-9a-f-]{36}\"\\} 1$", Lines(exporter.Scrape(), "sessions")[1]);

        _sessionUser = null;
        Assert.Equal(["# TYPE sessions gauge"], Lines(exporter.Scrape(), "sessions"));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(user.IsAlive);
    }

    /// <summary>
    /// Gives <see cref="_sessionUser"/> a name of its own, to see whether the exporter still holds it later; in a method
    /// of its own, so that no variable of the test's keeps it alive.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private WeakReference StartSessionOfNewUser()
    {
        _sessionUser = "user-" + Guid.NewGuid();
        return new WeakReference(_sessionUser);
    }

    /// <summary>
    /// Regression: one lock covered the whole scrape (every callback, then the text) and every recorded measurement, so a
    /// measurement on another thread waited for the scrape to end: an allocation's lifetime recorded on a UDP worker when a
    /// Refresh deleted it waited up to 171 ms behind a scrape of 10,001 users. Here the other thread records while a
    /// callback of the scrape waits for it (bounded, since it blocked before).
    /// </summary>
    [Fact]
    public void A_measurement_made_during_a_scrape_does_not_wait_for_the_scrape()
    {
        Counter<long> counter = _meter.CreateCounter<long>("deleted");
        bool? recordedMeanwhile = null;
        _meter.CreateObservableGauge("probe", () =>
        {
            if (recordedMeanwhile is null)
            {
                var other = new Thread(() => counter.Add(1, new KeyValuePair<string, object?>("reason", "refresh")));
                other.Start();
                recordedMeanwhile = other.Join(TimeSpan.FromSeconds(10));
            }

            return 1L;
        });
        using var exporter = new PrometheusExporter(_meter, _log);

        exporter.Scrape();

        Assert.True(recordedMeanwhile);
        Assert.Equal(["# TYPE deleted counter", "deleted{reason=\"refresh\"} 1"], Lines(exporter.Scrape(), "deleted"));
    }

    /// <summary>Recording in a series that exists allocates nothing: measurements come from the relay's threads.</summary>
    [Fact]
    public void Recording_in_an_existing_series_allocates_nothing()
    {
        Counter<long> counter = _meter.CreateCounter<long>("dropped");
        Histogram<double> histogram = _meter.CreateHistogram<double>("lifetime");
        using var exporter = new PrometheusExporter(_meter, _log);
        var tag = new KeyValuePair<string, object?>("reason", "refresh");
        counter.Add(1, tag);
        histogram.Record(1);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            counter.Add(1, tag);
            histogram.Record(i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(["# TYPE dropped counter", "dropped{reason=\"refresh\"} 1001"], Lines(exporter.Scrape(), "dropped"));
    }

    /// <summary>
    /// Regression: families were kept per instrument, so two instruments whose names are one once made valid (<c>a.b</c> and
    /// <c>a_b</c>) gave the name two HELP and TYPE blocks, and tags whose names are one once made valid (<c>x.y</c> and
    /// <c>x_y</c>) gave a series the same label twice; strict parsers reject both. Now the series of one name are one
    /// family (their values added where the labels are the same), an instrument of that name but another type is left
    /// out with a warning, and of two tags of one label name the first (by name) is kept.
    /// </summary>
    [Fact]
    public void Instruments_and_tags_of_one_name_once_made_valid_are_one_family_and_one_label()
    {
        using var exporter = new PrometheusExporter(_meter, _log); // first, so that the instruments come to it in this order
        Counter<long> dotted = _meter.CreateCounter<long>("a.b", unit: null, description: "first");
        Counter<long> underscored = _meter.CreateCounter<long>("a_b", unit: null, description: "second");
        _meter.CreateObservableGauge("a-b", () => 1L);

        dotted.Add(1, new KeyValuePair<string, object?>("x", "1"));
        underscored.Add(2, new KeyValuePair<string, object?>("x", "1"));
        underscored.Add(4, new KeyValuePair<string, object?>("x", "2"));
        dotted.Add(8, new("x.y", "first"), new("x_y", "second"));
        underscored.Add(16, new KeyValuePair<string, object?>("x_y", "first"));

        string scrape = exporter.Scrape();
        Assert.Equal(["# TYPE a_b counter", "a_b{x=\"1\"} 3", "a_b{x=\"2\"} 4", "a_b{x_y=\"first\"} 24"], Lines(scrape, "a_b"));
        Assert.Equal("# HELP a_b first", Assert.Single(scrape.Split('\n'), line => line.StartsWith("# HELP a_b ", StringComparison.Ordinal)));
        Assert.Equal("Warning: instrument a-b of meter " + _meter.Name + " is not exported: a_b is exported already, as a counter", Assert.Single(_log.Lines));
    }

    /// <summary>The lines of the scrape that name <paramref name="family"/> (its HELP left out), a histogram's included.</summary>
    private static string[] Lines(string scrape, string family) =>
        [.. scrape.Split('\n').Where(line => line.StartsWith("# TYPE " + family + " ", StringComparison.Ordinal)
            || new[] { "", "_bucket", "_sum", "_count" }.Any(suffix => line.StartsWith(family + suffix + " ", StringComparison.Ordinal) || line.StartsWith(family + suffix + "{", StringComparison.Ordinal)))];
}
