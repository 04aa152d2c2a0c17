using System.Globalization;
using System.Text;

namespace TurnServer.LoadGenerator;

/// <summary>
/// Turns run.sh's result lines (<c>server=ts scenario=relay-10-160 key=value ...</c>) into one side-by-side table:
/// per scenario and metric, the median over runs for each server and their ratio (this server / coTURN).
/// </summary>
internal static class Summary
{
    /// <summary>Above this share of one core, a generator thread may be what limits the load rather than the server.</summary>
    private const double GeneratorBusyPercent = 90;

    private static readonly (string Scenario, string Metric, string Label, bool? HigherIsBetter)[] Rows = BuildRows();

    public static string Format(IEnumerable<string> lines)
    {
        var values = new Dictionary<(string Server, string Scenario, string Metric), List<double>>();
        var gc = new List<string>();
        foreach (string line in lines)
        {
            Dictionary<string, string> fields = Parse(line);
            if (!fields.TryGetValue("server", out string? server) || !fields.TryGetValue("scenario", out string? scenario))
            {
                continue;
            }

            if (scenario == "gc")
            {
                gc.Add(line);
                continue;
            }

            foreach ((string key, string value) in fields)
            {
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
                {
                    (string, string, string) id = (server, scenario, key);
                    if (!values.TryGetValue(id, out List<double>? list))
                    {
                        values[id] = list = [];
                    }

                    list.Add(number);
                }
            }
        }

        // TurnServer and coTURN first; any other variants run (run.sh --engines) get a column each after them.
        string[] servers = values.Keys.Select(k => k.Server).Distinct().OrderBy(ServerOrder).ThenBy(n => n, StringComparer.Ordinal).ToArray();
        var table = new StringBuilder();
        table.Append("| Scenario | Metric |");
        foreach (string server in servers)
        {
            table.Append(' ').Append(ServerName(server)).Append(" |");
        }

        table.AppendLine(" Ratio | Runs (per server) |");
        bool generatorBound = false;
        table.Append("| --- | --- |").Append(string.Concat(Enumerable.Repeat(" ---: |", servers.Length))).AppendLine(" ---: | ---: |");
        foreach ((string scenario, string metric, string label, bool? higherIsBetter) in Rows)
        {
            double[] medians = servers.Select(s => values.TryGetValue((s, scenario, metric), out List<double>? list) ? Median(list) : double.NaN).ToArray();
            if (medians.All(double.IsNaN))
            {
                continue;
            }

            double ts = values.TryGetValue(("ts", scenario, metric), out List<double>? tsList) ? Median(tsList) : double.NaN;
            double co = values.TryGetValue(("coturn", scenario, metric), out List<double>? coList) ? Median(coList) : double.NaN;
            string ratio = higherIsBetter is { } higher && !double.IsNaN(ts) && !double.IsNaN(co) && co != 0 ? (ts / co).ToString("0.00", CultureInfo.InvariantCulture) + (higher ? "" : " (lower is better)") : "";
            string runs = string.Join(" / ", servers.Select(s => values.TryGetValue((s, scenario, metric), out List<double>? list) ? list.Count : 0));
            table.Append("| ").Append(ScenarioName(scenario)).Append(" | ").Append(label).Append(" |");
            for (int i = 0; i < servers.Length; i++)
            {
                table.Append(' ').Append(Number(medians[i]));
                if (metric == "pkts_per_cpu_s" && values.TryGetValue((servers[i], scenario, "relayed_pps"), out List<double>? pps))
                {
                    // The servers may run at different packet rates, and CPU per packet depends on the rate.
                    table.Append(" (at ").Append(Number(Median(pps))).Append("/s)");
                }

                if (metric is "pkts_per_cpu_s" or "relayed_pps"
                    && values.TryGetValue((servers[i], scenario, "gen_busiest_thread_pct"), out List<double>? busy) && busy.Any(b => b > GeneratorBusyPercent))
                {
                    table.Append('*');
                    generatorBound = true;
                }

                table.Append(" |");
            }

            table.Append(' ').Append(ratio).Append(" | ").Append(runs).AppendLine(" |");
        }

        if (generatorBound)
        {
            table.AppendLine().Append("\\* In at least one run a load generator thread was over ")
                .Append(GeneratorBusyPercent.ToString(CultureInfo.InvariantCulture)).AppendLine("% busy: the generator, not the server, may have set that load.");
        }

        foreach (string line in gc)
        {
            table.AppendLine().Append("GC in the relay steady state: ").AppendLine(line);
        }

        return table.ToString();
    }

    /// <summary>The median; the mean of the middle two for an even count.</summary>
    public static double Median(List<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    public static Dictionary<string, string> Parse(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                fields[part[..equals]] = part[(equals + 1)..];
            }
        }

        return fields;
    }

    private static (string, string, string, bool?)[] BuildRows()
    {
        // HigherIsBetter null: context for the other rows, with no ratio, since neither direction is better.
        var rows = new List<(string, string, string, bool?)>();
        foreach (int clients in new[] { 1, 10, 100 })
        {
            foreach (int size in new[] { 160, 1200 })
            {
                string scenario = "relay-" + clients + "-" + size;
                rows.Add((scenario, "pkts_per_cpu_s", "relayed packets per server CPU-second", true));
                rows.Add((scenario, "relayed_pps", "relayed packets/s", true));
                rows.Add((scenario, "loss_pct", "loss % (timed out, less the echo peer's send failures)", false));
                rows.Add((scenario, "gen_send_fail", "generator send failures (not sent, not counted)", null));
                rows.Add((scenario, "peer_send_fail", "echo peer send failures", null));
                rows.Add((scenario, "avg_in_flight", "average packets in flight", null));
                rows.Add((scenario, "server_cpu_s", "server CPU s (utime+stime)", false));
                rows.Add((scenario, "gen_cpu_s", "generator CPU s", false));
                rows.Add((scenario, "gen_busiest_thread_pct", "generator's busiest thread, % of a core", null));
            }
        }

        rows.Add(("latency", "p50_us", "round trip p50 (µs)", false));
        rows.Add(("latency", "p99_us", "round trip p99 (µs)", false));
        rows.Add(("latency", "loss_pct", "loss %", false));
        rows.Add(("alloc", "cycles_per_s", "Allocate 401 + Allocate + Refresh(0) cycles/s", true));
        rows.Add(("alloc", "cycles_per_cpu_s", "cycles per server CPU-second", true));
        rows.Add(("memory", "rss_idle", "RSS idle (bytes)", false));
        rows.Add(("memory", "rss_1000", "RSS, 1,000 allocations", false));
        rows.Add(("memory", "rss_10000", "RSS, 10,000 allocations", false));
        rows.Add(("memory", "bytes_per_alloc_1000", "bytes per allocation at 1,000", false));
        rows.Add(("memory", "bytes_per_alloc_10000", "bytes per allocation at 10,000", false));
        return [.. rows];
    }

    private static int ServerOrder(string server) => server switch { "ts" => 0, "coturn" => 1, _ => 2 };

    private static string ServerName(string server) => server switch
    {
        "ts" => "TurnServer",
        "coturn" => "coTURN",
        "ts-nogso" => "TurnServer, no offload",
        "ts-portable" => "TurnServer, portable engine",
        "cforward" => "minimal C forwarder",
        _ => server,
    };

    private static string ScenarioName(string scenario) => scenario.StartsWith("relay-", StringComparison.Ordinal)
        ? "relay, " + scenario.Split('-')[1] + " clients, " + scenario.Split('-')[2] + " B"
        : scenario switch
        {
            "latency" => "latency, 10 clients x 100 pkt/s, 160 B",
            "alloc" => "allocation rate, 16 clients",
            "memory" => "memory (allocation + permission + channel)",
            _ => scenario,
        };

    private static string Number(double value) => double.IsNaN(value) ? "-"
        : Math.Abs(value) >= 100 ? value.ToString("#,0", CultureInfo.InvariantCulture)
        : value.ToString("0.###", CultureInfo.InvariantCulture);
}
