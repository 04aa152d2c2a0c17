using System.Globalization;
using TurnServer.Benchmarks.Infrastructure;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// Holds every hot path (benchmarks/TurnServer.Benchmarks, HotPaths) to its allocated bytes per operation in
/// benchmarks/allocation-budget.txt, measured on a warmed fixture of 10,000 allocations.
/// </summary>
public class AllocationBudgetTests
{
    private const int Operations = 2000;

    [Fact]
    public void Every_hot_path_stays_within_its_allocation_budget()
    {
        Dictionary<string, long> budget = ReadBudget();
        var paths = new HotPaths();
        var failures = new List<string>();
        foreach ((string name, Action run) in paths.All)
        {
            Assert.True(budget.ContainsKey(name), name + " has no line in allocation-budget.txt");
            for (int i = 0; i < 100; i++)
            {
                run();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Operations; i++)
            {
                run();
            }

            double perOperation = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / Operations;
            if (perOperation > budget[name])
            {
                failures.Add(name + ": " + perOperation.ToString("0.#", CultureInfo.InvariantCulture) + " bytes per operation, budget " + budget[name]);
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void The_hot_paths_do_their_work()
    {
        var paths = new HotPaths(payloadSize: 160);
        Assert.True(paths.DecodeBindingRequest());
        Assert.True(paths.DecodeAllocateSuccess());
        Assert.True(paths.VerifyMessageIntegrity());
        Assert.True(paths.VerifyFingerprint());
        Assert.True(paths.ChannelDataClientToPeer());
        Assert.Equal(160, paths.Outbox.QueuedLength(paths.Outbox.Count - 1));
        int queued = paths.Outbox.Count;
        Assert.Equal(0, paths.SendIndicationClientToPeer()); // no answer to an indication ...
        Assert.Equal((queued + 1, 160), (paths.Outbox.Count, paths.Outbox.QueuedLength(paths.Outbox.Count - 1))); // ... but its DATA went to the peer
        Assert.True(paths.PeerToClient());
        Assert.Equal(4 + 160, paths.Outbox.QueuedLength(paths.Outbox.Count - 1));
        Assert.True(paths.FiveTupleLookup());
    }

    private static Dictionary<string, long> ReadBudget()
    {
        var budget = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(Path.Combine(RepositoryRoot.Path, "benchmarks", "allocation-budget.txt")))
        {
            if (line.Length > 0 && line[0] != '#' && line.Split('=') is [string name, string bytes])
            {
                budget[name.Trim()] = long.Parse(bytes.Trim(), CultureInfo.InvariantCulture);
            }
        }

        return budget;
    }
}
