using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Hosting.Metrics;

namespace TurnServer.Hosting.Tests.Metrics;

public class PrometheusFormatTests
{
    [Fact]
    public void Help_and_label_values_are_escaped_as_the_format_requires()
    {
        var writer = new PrometheusTextWriter();
        writer.WriteFamily("turn_traffic_rcvp", "line one\nback\\slash \"quoted\"", PrometheusMetricType.Counter);
        writer.WriteSample("turn_traffic_rcvp", [new("realm", "a\"b\\c\nd"), new("user", "x")], 42);

        Assert.Equal(
            "# HELP turn_traffic_rcvp line one\\nback\\\\slash \"quoted\"\n" +
            "# TYPE turn_traffic_rcvp counter\n" +
            "turn_traffic_rcvp{realm=\"a\\\"b\\\\c\\nd\",user=\"x\"} 42\n",
            writer.ToString());
    }

    [Theory]
    [InlineData("dotnet.gc.collections", "dotnet_gc_collections")]
    [InlineData("9lives", "_9lives")]
    [InlineData("a:b-c", "a:b_c")]
    public void Names_are_made_valid(string name, string expected) => Assert.Equal(expected, PrometheusTextWriter.SanitizeMetricName(name));

    [Theory]
    [InlineData(3.0, "3")]
    [InlineData(0.25, "0.25")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_are_formatted_invariantly(double value, string expected) => Assert.Equal(expected, PrometheusTextWriter.FormatValue(value));

    [Fact]
    public void Observable_counters_never_go_down_gauges_follow_and_histograms_are_cumulative()
    {
        using var meter = new Meter("test-" + Guid.NewGuid());
        long counter = 10;
        long gauge = 5;
        meter.CreateObservableCounter("c", () => counter, description: "a counter");
        meter.CreateObservableGauge("g", () => gauge, description: "a gauge");
        Histogram<double> histogram = meter.CreateHistogram("h", unit: null, description: "a histogram", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10] });
        using var exporter = new PrometheusExporter(meter, NullLogger.Instance);
        histogram.Record(0.5);
        histogram.Record(5);
        histogram.Record(50);

        Assert.Contains("\nc 10\n", exporter.Scrape(), StringComparison.Ordinal);
        counter = 7; // an allocation missed once while it moved from live to finished
        gauge = 2;
        string scrape = exporter.Scrape();

        Assert.Contains("\nc 10\n", scrape, StringComparison.Ordinal);
        Assert.Contains("\ng 2\n", scrape, StringComparison.Ordinal);
        Assert.Contains("h_bucket{le=\"1\"} 1\nh_bucket{le=\"10\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 55.5\nh_count 3\n", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain("c_total", scrape, StringComparison.Ordinal); // the server's own names are kept as given
    }

    /// <summary>
    /// Regression: the runtime publishes the thread pool's thread count and queue length as observable counters by mistake
    /// (dotnet/runtime#112077), and they were exported as <c>_total</c> counters stuck at their highest value.
    /// </summary>
    [Fact]
    public void The_runtimes_thread_pool_thread_count_and_queue_length_are_gauges_of_the_current_value()
    {
        using var own = new Meter("test-" + Guid.NewGuid());
        using var runtime = new Meter(PrometheusExporter.RuntimeMeterName); // stands in for the runtime's, with values set here
        long queued = 40;
        runtime.CreateObservableCounter("dotnet.thread_pool.queue.length", () => new Measurement<long>(queued, new KeyValuePair<string, object?>("test", "stand-in")));
        using var exporter = new PrometheusExporter(own, NullLogger.Instance);

        Assert.Contains("\ndotnet_thread_pool_queue_length{test=\"stand-in\"} 40\n", exporter.Scrape(), StringComparison.Ordinal);
        queued = 3;
        string scrape = exporter.Scrape();

        Assert.Contains("\ndotnet_thread_pool_queue_length{test=\"stand-in\"} 3\n", scrape, StringComparison.Ordinal);

        // The stand-in and the runtime's own instrument are one family: a name may have one TYPE line only.
        Assert.Single(scrape.Split('\n'), line => line.StartsWith("# TYPE dotnet_thread_pool_queue_length ", StringComparison.Ordinal));
        Assert.Contains("# TYPE dotnet_thread_pool_queue_length gauge\n", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE dotnet_thread_pool_thread_count gauge\n", scrape, StringComparison.Ordinal); // the runtime's own
        Assert.DoesNotContain("dotnet_thread_pool_thread_count_total", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain("dotnet_thread_pool_queue_length_total", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE dotnet_thread_pool_work_item_count_total counter\n", scrape, StringComparison.Ordinal); // a true counter keeps _total
    }
}
