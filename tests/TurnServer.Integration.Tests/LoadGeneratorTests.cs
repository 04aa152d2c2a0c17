using System.Diagnostics;
using System.Net;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.LoadGenerator;

namespace TurnServer.Integration.Tests;

/// <summary>The load generator (benchmarks/TurnServer.LoadGenerator): its packet format, statistics, summary, and a short real run.</summary>
public class LoadGeneratorTests
{
    [Fact]
    public void A_load_packet_carries_its_send_time_client_and_sequence()
    {
        var payload = new byte[160];
        LoadPacket.Write(payload, sentAt: 0x0102030405060708, client: 42, sequence: 7);

        Assert.Equal([0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 42, 0, 0, 0, 7, 0, 0, 0], payload[..16]);
        Assert.All(payload[16..], b => Assert.Equal(0x5A, b));
        Assert.True(LoadPacket.TryRead(payload, out long sentAt, out int client, out int sequence));
        Assert.Equal((0x0102030405060708L, 42, 7), (sentAt, client, sequence));
        Assert.False(LoadPacket.TryRead(payload.AsSpan(0, 15), out _, out _, out _));
    }

    [Fact]
    public void Round_trip_percentiles_are_exact_in_microseconds()
    {
        var histogram = new RttHistogram();
        long microsecond = Stopwatch.Frequency / 1_000_000;
        for (int i = 1; i <= 100; i++)
        {
            histogram.Add(i * 10 * microsecond); // 10, 20, ... 1000 µs
        }

        Assert.Equal(500, histogram.Percentile(50));
        Assert.Equal(990, histogram.Percentile(99));
        Assert.Equal(1000, histogram.Percentile(100));
        histogram.Add(Stopwatch.Frequency * 5); // beyond the range: counted as 1 s
        Assert.Equal(1_000_000, histogram.Percentile(100));
    }

    [Fact]
    public void The_summary_shows_medians_side_by_side_with_their_ratio()
    {
        string table = Summary.Format(
        [
            "server=ts scenario=relay-10-160 pkts_per_cpu_s=300 relayed_pps=10",
            "server=ts scenario=relay-10-160 pkts_per_cpu_s=100 relayed_pps=10",
            "server=ts scenario=relay-10-160 pkts_per_cpu_s=200 relayed_pps=10",
            "server=coturn scenario=relay-10-160 pkts_per_cpu_s=50 relayed_pps=20",
            "server=coturn scenario=relay-10-160 pkts_per_cpu_s=150 relayed_pps=20",
            "server=coturn scenario=relay-10-160 pkts_per_cpu_s=100 relayed_pps=20 gen_busiest_thread_pct=95",
        ]);

        Assert.Contains("| relay, 10 clients, 160 B | relayed packets per server CPU-second | 200 (at 10/s) | 100 (at 20/s)* | 2.00 | 3 / 3 |", table, StringComparison.Ordinal);
        Assert.Contains("| relay, 10 clients, 160 B | relayed packets/s | 10 | 20* | 0.50 | 3 / 3 |", table, StringComparison.Ordinal);
        Assert.Contains("\\* In at least one run a load generator thread was over 90% busy", table, StringComparison.Ordinal);
        Assert.Equal(2.5, Summary.Median([4, 1, 2, 3]));
    }

    [LinuxFact]
    public void The_server_cpu_time_and_resident_set_come_from_proc()
    {
        int self = Environment.ProcessId;
        Assert.True(ProcStat.CpuSeconds(self) > 0);
        Assert.True(ProcStat.ResidentBytes(self) > 1024 * 1024);
        Assert.True(double.IsNaN(ProcStat.CpuSeconds(int.MaxValue)));
    }

    [LinuxEngineFact]
    public async Task A_short_relay_run_through_the_server_gets_every_packet_back()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var peer = new EchoPeer(IPAddress.Parse("127.0.0.3"));
        using var sessions = new TurnSessions(server.UdpEndPoint, IPAddress.Parse("127.0.0.2"), 4, TestServer.User, TestServer.Password, TestServer.Realm, peer.EndPoint, SessionGoal.BindChannel);
        sessions.Begin(0, 4);
        sessions.Run(() => sessions.ReadyCount == 4, Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency));
        Assert.Equal(4, sessions.ReadyCount);

        // A loss timeout of seconds, not the benchmark's 200 ms: on a machine busy with other tests a round trip can
        // stall that long without anything being lost.
        RelayResult result = new RelayLoad(sessions, payload: 200, window: 8, rate: 0, lossTimeoutSeconds: 5).Run(Environment.ProcessId, peer, warmupSeconds: 0.2, seconds: 0.5);

        Assert.True(result.Echoed > 100, "echoed " + result.Echoed);
        Assert.Equal(0, result.Lost);
        Assert.Equal(result.Sent, result.Echoed);
        Assert.Equal((0, 0), (result.GeneratorSendFailures, result.PeerSendFailures));
        Assert.InRange(result.AverageInFlight, 1, 4 * 8);
        Assert.InRange(result.GeneratorBusiestThreadPercent, 1, 150); // the driving loop never idles; ticks are 10 ms
        Assert.InRange(result.P50Micros, 1, 1_000_000);
        Assert.True(peer.Echoed >= result.Echoed);
        Assert.True(server.Engine.GetTrafficTotals().ClientPacketsSent >= result.Echoed);
    }

    [LinuxEngineFact]
    public async Task A_lost_packet_gives_its_window_slot_back_after_the_timeout()
    {
        await using TestServer server = await TestServer.StartAsync();
        var peer = new EchoPeer(IPAddress.Parse("127.0.0.3"));
        using var sessions = new TurnSessions(server.UdpEndPoint, IPAddress.Parse("127.0.0.2"), 2, TestServer.User, TestServer.Password, TestServer.Realm, peer.EndPoint, SessionGoal.BindChannel);
        sessions.Begin(0, 2);
        sessions.Run(() => sessions.ReadyCount == 2, Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency));
        Assert.Equal(2, sessions.ReadyCount);
        peer.Dispose(); // nothing comes back from here on

        RelayResult result = new RelayLoad(sessions, payload: 200, window: 4, rate: 0, lossTimeoutSeconds: 0.05).Run(Environment.ProcessId, peer, warmupSeconds: 0.1, seconds: 1);

        // Each timeout frees the whole window of 2 x 4 for a fresh round, rather than leaving it empty for good: two
        // measured rounds need the slots back at least once. A slot is reused only once its packet has waited over
        // 50 ms, so the measured second holds at most 20 rounds, however the threads are scheduled.
        Assert.InRange(result.Sent, 2 * 2 * 4, 20 * 2 * 4);
        Assert.Equal((0, result.Sent, 0L), (result.Echoed, result.Lost, result.PeerSendFailures));
    }

    [LinuxEngineFact]
    public async Task The_allocation_cycle_allocates_and_deletes_on_fresh_five_tuples()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var peer = new EchoPeer(IPAddress.Parse("127.0.0.3"));
        using var sessions = new TurnSessions(server.UdpEndPoint, IPAddress.Parse("127.0.0.2"), 2, TestServer.User, TestServer.Password, TestServer.Realm, peer.EndPoint, SessionGoal.AllocateAndDelete);
        sessions.Begin(0, 2);
        sessions.Run(() => sessions.Cycles >= 20, Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency));

        Assert.True(sessions.Cycles >= 20);
        Assert.Equal(0, sessions.Failures);
        Assert.InRange(server.Engine.Allocations.Count, 0, 2); // each cycle ends with Refresh(0)
    }
}
