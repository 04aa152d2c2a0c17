using System.Diagnostics;
using System.Globalization;
using System.Net;
using TurnServer.LoadGenerator;

// turnload: drives a TURN server on loopback and prints one line of key=value results.
//   relay: --clients N --size BYTES [--window K | --rate PACKETS_PER_S] --warmup S --seconds S
//   alloc: --clients N --warmup S --seconds S           (Allocate 401, Allocate, Refresh 0 per cycle)
//   hold:  --steps 1000,10000                            (allocations with a channel, RSS at each step)
//   gc:    --server-pid PID --seconds S                  (garbage collections of a .NET server over S seconds)
//   summarize FILE                                       (run.sh's results as a side-by-side table)
// Common: --server IP:PORT --server-pid PID --user U --password P --realm R --client-ip IP --peer-ip IP
Dictionary<string, string> options = ParseOptions(args.Length > 0 && args[0] == "summarize" ? [] : args);
string mode = args.Length > 0 ? args[0] : "relay";
var server = IPEndPoint.Parse(Get("server", "127.0.0.1:3478"));
int serverPid = int.Parse(Get("server-pid", "0"), CultureInfo.InvariantCulture);
string user = Get("user", "load");
string password = Get("password", "load-pass");
string realm = Get("realm", "example.org");
var clientIp = IPAddress.Parse(Get("client-ip", "127.0.0.2"));
var peerIp = IPAddress.Parse(Get("peer-ip", "127.0.0.3"));
int clients = int.Parse(Get("clients", "10"), CultureInfo.InvariantCulture);
double warmup = double.Parse(Get("warmup", "2"), CultureInfo.InvariantCulture);
double seconds = double.Parse(Get("seconds", "5"), CultureInfo.InvariantCulture);
long setupDeadline = Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency);

if (mode == "summarize")
{
    Console.Write(Summary.Format(File.ReadLines(args[1])));
    return 0;
}

if (mode == "gc")
{
    (int gen0, int gen1, int gen2, int seen) = GcCounter.Count(serverPid, TimeSpan.FromSeconds(seconds));
    Require(seen > 0, "the EventPipe session with process " + serverPid + " delivered no events at all, so its GC count means nothing");
    Console.WriteLine(Format(
        ("gc_seconds", seconds), ("gc_gen0", gen0), ("gc_gen1", gen1), ("gc_gen2", gen2), ("gc_total", gen0 + gen1 + gen2), ("gc_events_seen", seen)));
    return 0;
}

using var peer = new EchoPeer(peerIp);
switch (mode)
{
    case "relay":
    {
        int size = int.Parse(Get("size", "160"), CultureInfo.InvariantCulture);
        double rate = double.Parse(Get("rate", "0"), CultureInfo.InvariantCulture);
        int window = int.Parse(Get("window", "0"), CultureInfo.InvariantCulture);
        if (window <= 0)
        {
            // Enough in flight to keep the server busy, few enough that its socket buffers never overflow.
            window = Math.Max(2, 256 / clients);
        }

        using var sessions = new TurnSessions(server, clientIp, clients, user, password, realm, peer.EndPoint, SessionGoal.BindChannel);
        sessions.Begin(0, clients);
        sessions.Run(() => sessions.ReadyCount == clients, setupDeadline);
        Require(sessions.ReadyCount == clients, "only " + sessions.ReadyCount + " of " + clients + " clients got an allocation and a channel; last error " + sessions.LastError
            + ", steps " + string.Join(',', sessions.Sessions.Where(s => s.Step != SessionStep.Ready).Select(s => s.Step)) + ", retransmits " + sessions.Retransmits);
        RelayResult r = new RelayLoad(sessions, size, window, rate).Run(serverPid, peer, warmup, seconds);
        RequireCpu(r.ServerCpuSeconds + r.GeneratorCpuSeconds);
        Console.WriteLine(Format(
            ("mode", "relay"), ("clients", clients), ("size", size), ("window", rate > 0 ? 0 : window), ("rate", rate),
            ("seconds", r.Seconds), ("sent", r.Sent), ("echoed", r.Echoed), ("lost", r.Lost), ("gen_send_fail", r.GeneratorSendFailures), ("peer_send_fail", r.PeerSendFailures),
            ("loss_pct", r.Sent > 0 ? 100.0 * r.ServerLost / r.Sent : 0), ("avg_in_flight", r.AverageInFlight),
            ("relayed_pps", r.RelayedPerSecond), ("server_cpu_s", r.ServerCpuSeconds), ("gen_cpu_s", r.GeneratorCpuSeconds), ("gen_busiest_thread_pct", r.GeneratorBusiestThreadPercent),
            ("pkts_per_cpu_s", r.RelayedPerCpuSecond), ("p50_us", r.P50Micros), ("p99_us", r.P99Micros)));
        break;
    }

    case "alloc":
    {
        using var sessions = new TurnSessions(server, clientIp, clients, user, password, realm, peer.EndPoint, SessionGoal.AllocateAndDelete);
        sessions.Begin(0, clients);
        sessions.Run(() => false, Stopwatch.GetTimestamp() + (long)(warmup * Stopwatch.Frequency));
        long cycles0 = sessions.Cycles;
        double cpu0 = ProcStat.CpuSeconds(serverPid);
        long t0 = Stopwatch.GetTimestamp();
        sessions.Run(() => false, t0 + (long)(seconds * Stopwatch.Frequency));
        double elapsed = (double)(Stopwatch.GetTimestamp() - t0) / Stopwatch.Frequency;
        double cpu = ProcStat.CpuSeconds(serverPid) - cpu0;
        long cycles = sessions.Cycles - cycles0;
        RequireCpu(cpu);
        Console.WriteLine(Format(
            ("mode", "alloc"), ("clients", clients), ("seconds", elapsed), ("cycles", cycles), ("cycles_per_s", cycles / elapsed),
            ("server_cpu_s", cpu), ("cycles_per_cpu_s", cpu > 0 ? cycles / cpu : 0), ("retransmits", sessions.Retransmits), ("failures", sessions.Failures), ("last_error", sessions.LastError)));
        break;
    }

    case "hold":
    {
        int[] steps = Get("steps", "1000,10000").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        double settle = double.Parse(Get("settle", "3"), CultureInfo.InvariantCulture);
        Thread.Sleep(TimeSpan.FromSeconds(settle));
        long idle = ProcStat.ResidentBytes(serverPid);
        var results = new List<(string, object)> { ("mode", "hold"), ("rss_idle", idle) };
        using var sessions = new TurnSessions(server, clientIp, steps.Max(), user, password, realm, peer.EndPoint, SessionGoal.BindChannel);
        int started = 0;
        foreach (int step in steps)
        {
            sessions.Run(
                () =>
                {
                    // At most 256 exchanges in flight, so neither server nor client drops requests.
                    int next = Math.Min(step, sessions.ReadyCount + 256);
                    if (next > started)
                    {
                        sessions.Begin(started, next);
                        started = next;
                    }

                    return sessions.ReadyCount >= step;
                },
                Stopwatch.GetTimestamp() + (120 * Stopwatch.Frequency));
            Require(sessions.ReadyCount >= step, "only " + sessions.ReadyCount + " allocations of " + step);
            Thread.Sleep(TimeSpan.FromSeconds(settle));
            long rss = ProcStat.ResidentBytes(serverPid);
            results.Add(("rss_" + step, rss));
            results.Add(("bytes_per_alloc_" + step, (rss - idle) / step));
        }

        Console.WriteLine(Format([.. results]));
        break;
    }

    default:
        Console.Error.WriteLine("modes: relay, alloc, hold");
        return 2;
}

return 0;

string Get(string name, string fallback) => options.TryGetValue(name, out string? value) ? value : fallback;

static Dictionary<string, string> ParseOptions(string[] args)
{
    var options = new Dictionary<string, string>(StringComparer.Ordinal);
    for (int i = 1; i + 1 < args.Length; i += 2)
    {
        options[args[i].TrimStart('-')] = args[i + 1];
    }

    return options;
}

static void Require(bool condition, string message)
{
    if (!condition)
    {
        Console.Error.WriteLine("turnload: " + message);
        Environment.Exit(1);
    }
}

// A CPU time that could not be read (NaN) would otherwise print as a result and skew the medians.
void RequireCpu(double seconds) => Require(!double.IsNaN(seconds), "cannot read the CPU time of process " + serverPid + " or of this one from /proc: has the server exited?");

static string Format(params (string Key, object Value)[] pairs) => string.Join(' ', pairs.Select(p => p.Key + "=" + (p.Value is double d ? d.ToString("0.###", CultureInfo.InvariantCulture) : Convert.ToString(p.Value, CultureInfo.InvariantCulture))));
