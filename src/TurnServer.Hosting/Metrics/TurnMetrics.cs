using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Dtls;

namespace TurnServer.Hosting.Metrics;

/// <summary>
/// The server's metrics as <see cref="System.Diagnostics.Metrics"/> instruments, read when scraped. coTURN's names and
/// labels come first, so its dashboards keep working (prom_server.c): <c>stun_binding_request/response/error</c>,
/// <c>turn_traffic_*</c> and <c>turn_traffic_peer_*</c> labelled by <c>realm</c> (and <c>user</c> with
/// <c>prometheus-username-labels</c>), <c>turn_total_traffic_*</c>, and the gauge <c>turn_total_allocations</c> by
/// <c>type</c>. Unlike coTURN's, the traffic counters include live allocations, so they move while a session runs.
/// The server's own metrics are prefixed <c>turnserver_</c> (counters end in <c>_total</c>); process metrics use the
/// Prometheus client names (<c>process_*</c>). Also an <see cref="IAllocationObserver"/>: ended allocations add their
/// traffic per user and their lifetime to a histogram.
/// </summary>
public sealed class TurnMetrics : IAllocationObserver, IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "TurnServer";

    private static readonly TimeSpan SnapshotReuse = TimeSpan.FromMilliseconds(200);

    private readonly string _realm;
    private readonly bool _userLabels;
    private readonly TimeProvider _time;
    private readonly Histogram<double> _lifetime;
    private readonly Dictionary<string, TrafficTotals> _endedPerUser = new(StringComparer.Ordinal);
    private readonly Lock _endedPerUserSync = new();
    private readonly int _maxUserSeries;
    private readonly ConcurrentQueue<DtlsEndpoint> _dtls = new();
    private readonly Lock _snapshotSync = new();
    private TurnEngine? _engine;
    private long _allocationsCreated;
    private TrafficSnapshot _snapshot = TrafficSnapshot.Empty;
    private long? _snapshotAt;

    /// <summary>
    /// Most users with a <c>user</c> series of their own with <c>prometheus-username-labels</c>, live or ended: the
    /// traffic of further users, live sessions' and ended ones' alike, is counted under <see cref="OtherUsersLabel"/>.
    /// TURN REST usernames carry their expiry, so every session may bring a new user: coTURN's series grow without end
    /// there (its documentation warns of the memory this leaks), these stop at this many.
    /// </summary>
    public const int MaxUserSeries = 10_000;

    /// <summary>The <c>user</c> label of the traffic of users who came after <see cref="MaxUserSeries"/> others.</summary>
    public const string OtherUsersLabel = "(others)";

    /// <summary>Creates the meter and its instruments.</summary>
    /// <param name="realm">The value of the <c>realm</c> label.</param>
    /// <param name="userLabels">coTURN's <c>prometheus-username-labels</c>: traffic per user as well as per realm.</param>
    /// <param name="time">The clock, for allocation lifetimes.</param>
    public TurnMetrics(string realm, bool userLabels, TimeProvider time)
        : this(realm, userLabels, time, MaxUserSeries)
    {
    }

    /// <summary>As the public constructor, with a lower cap on user series (tests).</summary>
    internal TurnMetrics(string realm, bool userLabels, TimeProvider time, int maxUserSeries)
    {
        _maxUserSeries = maxUserSeries;
        _realm = realm ?? throw new ArgumentNullException(nameof(realm));
        _userLabels = userLabels;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        Meter = new Meter(MeterName, typeof(TurnMetrics).Assembly.GetName().Version?.ToString(3));

        Meter.CreateObservableCounter("stun_binding_request", () => Counters?.BindingRequests ?? 0, description: "Incoming STUN Binding requests");
        Meter.CreateObservableCounter("stun_binding_response", () => Counters?.BindingResponses ?? 0, description: "Outgoing STUN Binding responses");
        Meter.CreateObservableCounter("stun_binding_error", () => Counters?.BindingErrors ?? 0, description: "STUN Binding errors");

        Traffic("turn_traffic", "client", t => t.ClientPacketsReceived, t => t.ClientBytesReceived, t => t.ClientPacketsSent, t => t.ClientBytesSent);
        Traffic("turn_traffic_peer", "peer", t => t.PeerPacketsReceived, t => t.PeerBytesReceived, t => t.PeerPacketsSent, t => t.PeerBytesSent);

        Meter.CreateObservableGauge("turn_total_allocations", AllocationsByType, description: "Represents current allocations number");
        Meter.CreateObservableCounter("turn_packet_processed", () => Counters?.PacketsProcessed ?? 0, description: "STUN messages parsed and handled");
        Meter.CreateObservableCounter("turn_packet_dropped", DropsByReason, description: "Packets dropped, by reason");

        Meter.CreateObservableCounter("turnserver_stun_requests_total", () => Counters?.Requests ?? 0, description: "STUN requests of every method received");
        Meter.CreateObservableCounter("turnserver_auth_failures_total", AuthFailuresByReason, description: "Requests that failed authentication, by reason (challenge is the first 401 of every client)");
        Meter.CreateObservableCounter("turnserver_allocations_created_total", () => Volatile.Read(ref _allocationsCreated), description: "Allocations created");
        Meter.CreateObservableGauge("turnserver_allocations_active", () => _engine?.Allocations.Count ?? 0, description: "Allocations live now");
        Meter.CreateObservableGauge("turnserver_relay_ports_in_use", () => _engine is null ? 0 : _engine.Ports.Capacity - _engine.Ports.FreeCount, description: "Relay ports held by allocations and reservations");
        Meter.CreateObservableGauge("turnserver_relay_ports_free", () => _engine?.Ports.FreeCount ?? 0, description: "Relay ports free in min-port..max-port");
        Meter.CreateObservableGauge("turnserver_draining", () => _engine?.IsDraining == true ? 1 : 0, description: "1 while draining (SIGUSR1): Allocate is refused with 508");
        Meter.CreateObservableCounter("turnserver_dtls_handshakes_started_total", () => _dtls.Sum(e => e.Counters.HandshakesStarted), description: "DTLS handshakes begun, all listening addresses");
        Meter.CreateObservableCounter("turnserver_dtls_handshakes_completed_total", () => _dtls.Sum(e => e.Counters.HandshakesCompleted), description: "DTLS handshakes finished, all listening addresses");
        Meter.CreateObservableCounter("turnserver_dtls_dropped_total", DtlsDropsByReason, description: "DTLS datagrams (and suppressed handshake flights) dropped, by reason");
        Meter.CreateObservableGauge("turnserver_dtls_sessions", () => _dtls.Sum(e => e.SessionCount), description: "DTLS sessions alive, handshaking or established");
        _lifetime = Meter.CreateHistogram(
            "turnserver_allocation_lifetime_seconds",
            unit: "s",
            description: "How long ended allocations lived, in seconds",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 86400] });

        ProcessMetrics();
    }

    /// <summary>The meter all instruments belong to; other components (the user database) add theirs to it.</summary>
    public Meter Meter { get; }

    private ServerCounters? Counters => _engine?.Counters;

    /// <summary>Connects the metrics to the engine they report on (the engine needs this observer first).</summary>
    public void Attach(TurnEngine engine) => _engine = engine ?? throw new ArgumentNullException(nameof(engine));

    /// <summary>Adds a DTLS listening address's counters to the <c>turnserver_dtls_*</c> metrics (summed over addresses).</summary>
    internal void Add(DtlsEndpoint endpoint) => _dtls.Enqueue(endpoint);

    /// <inheritdoc />
    public void OnCreated(Allocation allocation) => Interlocked.Increment(ref _allocationsCreated);

    /// <inheritdoc />
    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        _lifetime.Record(allocation.Age.TotalSeconds);
        if (_userLabels)
        {
            TrafficTotals traffic = TrafficTotals.Of(allocation);
            string user = allocation.Username ?? string.Empty;
            lock (_endedPerUserSync)
            {
                if (!_endedPerUser.ContainsKey(user) && _endedPerUser.Count >= _maxUserSeries)
                {
                    user = OtherUsersLabel; // may exceed the cap by this one series
                }

                _endedPerUser[user] = _endedPerUser.TryGetValue(user, out TrafficTotals sum) ? sum + traffic : traffic;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => Meter.Dispose();

    /// <summary>coTURN's label for an allocation's transport (socket_type_name).</summary>
    public static string TypeLabel(TransportProtocol protocol) => protocol switch
    {
        TransportProtocol.Tcp => "TCP",
        TransportProtocol.Tls => "TLS/TCP",
        TransportProtocol.Dtls => "DTLS",
        _ => "UDP",
    };

    /// <summary>A reason enum value as a label value: <c>NoPermission</c> becomes <c>no_permission</c>.</summary>
    public static string ReasonLabel<T>(T reason)
        where T : struct, Enum
    {
        string name = reason.ToString();
        var label = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                label.Append('_');
            }

            label.Append(char.ToLowerInvariant(name[i]));
        }

        return label.ToString();
    }

    private void Traffic(
        string prefix,
        string side,
        Func<TrafficTotals, long> rcvp,
        Func<TrafficTotals, long> rcvb,
        Func<TrafficTotals, long> sentp,
        Func<TrafficTotals, long> sentb)
    {
        string total = prefix.Replace("turn_", "turn_total_", StringComparison.Ordinal);
        foreach ((string suffix, Func<TrafficTotals, long> select, string what) in new[]
        {
            ("rcvp", rcvp, "packets received from the " + side),
            ("rcvb", rcvb, "bytes received from the " + side),
            ("sentp", sentp, "packets sent to the " + side),
            ("sentb", sentb, "bytes sent to the " + side),
        })
        {
            Meter.CreateObservableCounter(prefix + "_" + suffix, () => PerLabel(select), description: "Relayed " + what + ", finished and live sessions");
            Meter.CreateObservableCounter(total + "_" + suffix, () => select(Snapshot().Total), description: "Relayed " + what + ", finished and live sessions, all realms");
        }
    }

    private IEnumerable<Measurement<long>> PerLabel(Func<TrafficTotals, long> select)
    {
        TrafficSnapshot snapshot = Snapshot();
        if (!_userLabels)
        {
            return [new Measurement<long>(select(snapshot.Total), new KeyValuePair<string, object?>("realm", _realm))];
        }

        return snapshot.PerUser.Select(pair => new Measurement<long>(
            select(pair.Value),
            new KeyValuePair<string, object?>("realm", _realm),
            new KeyValuePair<string, object?>("user", pair.Key)));
    }

    /// <summary>
    /// Traffic of finished allocations and of live ones, computed once for all sixteen traffic counters of a scrape;
    /// the table reads both under one lock, so an allocation ending meanwhile is counted once. Per-user ended totals
    /// come from <see cref="OnEnded"/>, which runs just after, so a user's counter may lag by that allocation for one
    /// scrape (the exporter keeps counters from going down).
    /// </summary>
    private TrafficSnapshot Snapshot()
    {
        lock (_snapshotSync)
        {
            if (_engine is null || (_snapshotAt is long at && _time.GetElapsedTime(at) < SnapshotReuse))
            {
                return _snapshot;
            }

            Dictionary<string, TrafficTotals> perUser;
            lock (_endedPerUserSync)
            {
                perUser = _userLabels ? new(_endedPerUser, StringComparer.Ordinal) : [];
            }

            TrafficTotals total = _engine.Allocations.GetTrafficTotals(_userLabels
                ? (allocation, live) =>
                {
                    string user = allocation.Username ?? string.Empty;
                    if (!perUser.ContainsKey(user) && !TryAdmitUser(user))
                    {
                        user = OtherUsersLabel;
                    }

                    perUser[user] = perUser.TryGetValue(user, out TrafficTotals sum) ? sum + live : live;
                }
                : null);

            _snapshot = new TrafficSnapshot(total, perUser);
            _snapshotAt = _time.GetTimestamp();
            return _snapshot;
        }
    }

    /// <summary>
    /// Gives <paramref name="user"/> a series of its own while fewer than the cap have one: an entry in the ended
    /// totals, so that the traffic of its sessions, once they end, is added there too (neither lost from its series
    /// nor counted again under <see cref="OtherUsersLabel"/>).
    /// </summary>
    private bool TryAdmitUser(string user)
    {
        lock (_endedPerUserSync)
        {
            if (_endedPerUser.ContainsKey(user))
            {
                return true;
            }

            if (_endedPerUser.Count >= _maxUserSeries)
            {
                return false;
            }

            _endedPerUser[user] = default;
            return true;
        }
    }

    private IEnumerable<Measurement<long>> AllocationsByType()
    {
        Span<long> counts = stackalloc long[4];
        if (_engine is not null)
        {
            foreach (Allocation allocation in _engine.Allocations.All)
            {
                counts[(int)allocation.FiveTuple.Protocol & 3]++;
            }
        }

        var measurements = new Measurement<long>[4];
        for (int i = 0; i < 4; i++)
        {
            measurements[i] = new Measurement<long>(counts[i], new KeyValuePair<string, object?>("type", TypeLabel((TransportProtocol)i)));
        }

        return measurements;
    }

    private IEnumerable<Measurement<long>> DropsByReason() =>
        Counters is not { } counters ? [] : Enum.GetValues<DropReason>()
            .Select(r => new Measurement<long>(counters.GetDropped(r), new KeyValuePair<string, object?>("reason", ReasonLabel(r))));

    private IEnumerable<Measurement<long>> AuthFailuresByReason() =>
        Counters is not { } counters ? [] : Enum.GetValues<AuthFailureReason>()
            .Select(r => new Measurement<long>(counters.GetAuthFailures(r), new KeyValuePair<string, object?>("reason", ReasonLabel(r))));

    private IEnumerable<Measurement<long>> DtlsDropsByReason() =>
        Enum.GetValues<DtlsDropReason>()
            .Select(r => new Measurement<long>(_dtls.Sum(e => e.Counters.Get(r)), new KeyValuePair<string, object?>("reason", ReasonLabel(r))));

    /// <summary>The process metrics every Prometheus client library exports, under the same names.</summary>
    private void ProcessMetrics()
    {
        Meter.CreateObservableCounter("process_cpu_seconds_total", () => Environment.CpuUsage.TotalTime.TotalSeconds, description: "Total user and system CPU time spent in seconds.");
        Meter.CreateObservableGauge("process_resident_memory_bytes", () => Environment.WorkingSet, description: "Resident memory size in bytes.");
        Meter.CreateObservableGauge("process_virtual_memory_bytes", () =>
        {
            using Process self = Process.GetCurrentProcess();
            return self.VirtualMemorySize64;
        }, description: "Virtual memory size in bytes.");
        Meter.CreateObservableGauge("process_start_time_seconds", () =>
        {
            using Process self = Process.GetCurrentProcess();
            return new DateTimeOffset(self.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0;
        }, description: "Start time of the process since unix epoch in seconds.");
        Meter.CreateObservableGauge("process_open_fds", () => Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : 0, description: "Number of open file descriptors.");
        Meter.CreateObservableGauge("process_max_fds", MaxOpenFiles, description: "Maximum number of open file descriptors.");
    }

    /// <summary>The soft limit on open files, from /proc/self/limits ("Max open files  1024  1048576  files").</summary>
    private static IEnumerable<Measurement<long>> MaxOpenFiles()
    {
        const string path = "/proc/self/limits";
        if (!File.Exists(path))
        {
            return [];
        }

        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                string[] fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long soft))
                {
                    return [new Measurement<long>(soft)];
                }
            }
        }

        return [];
    }

    private sealed record TrafficSnapshot(TrafficTotals Total, Dictionary<string, TrafficTotals> PerUser)
    {
        /// <summary>Zero traffic and no per-user totals: the snapshot before the first one is taken, and while there is no engine.</summary>
        public static readonly TrafficSnapshot Empty = new(default, []);
    }
}
