using System.Net;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tests.Infrastructure;

namespace TurnServer.Hosting.Tests.Net;

public sealed class DescriptorBudgetTests
{
    [Fact]
    public void Takes_up_to_its_capacity_counts_refusals_and_logs_each_shortage_once_and_its_end()
    {
        var log = new LineLogger();
        var budget = new DescriptorBudget(2, log);

        Assert.True(budget.TryTake());
        Assert.True(budget.TryTake());
        Assert.False(budget.TryTake());
        Assert.False(budget.TryTake());
        Assert.Equal(2, budget.InUse);
        Assert.Equal(2, budget.Refused);
        Assert.Equal(["Warning: Out of descriptors for clients (all 2 in use): new connections are closed and Allocate answered 508 until some are freed; raise LimitNOFILE or ulimit -n"], log.Lines);

        budget.Return();
        Assert.Equal(1, budget.InUse);
        Assert.Equal("Information: Descriptors for clients are free again", log.Lines[^1]);
        Assert.True(budget.TryTake());
        budget.Return();
        Assert.Equal(2, log.Lines.Count); // no shortage, nothing more to say

        Assert.True(budget.TryTake());
        Assert.False(budget.TryTake());
        Assert.Equal(3, log.Lines.Count); // a second shortage is logged again
    }

    [Fact]
    public void A_shortage_ends_once_a_tenth_of_the_budget_is_free_so_churn_at_the_edge_logs_once()
    {
        var log = new LineLogger();
        var budget = new DescriptorBudget(20, log);
        for (int i = 0; i < 20; i++)
        {
            Assert.True(budget.TryTake());
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.False(budget.TryTake());
            budget.Return();
            Assert.True(budget.TryTake());
        }

        Assert.Single(log.Lines);
        budget.Return();
        budget.Return();
        Assert.Equal(["Information: Descriptors for clients are free again"], log.Lines.Skip(1));
    }

    [Fact]
    public void One_address_holds_at_most_a_quarter_of_the_budget_in_client_connections()
    {
        var budget = new DescriptorBudget(8, new LineLogger());
        IPAddress greedy = IPAddress.Parse("192.0.2.1");
        IPAddress other = IPAddress.Parse("192.0.2.2");

        Assert.Equal(2, budget.ConnectionsPerAddress);
        Assert.True(budget.TryTakeConnection(greedy));
        Assert.True(budget.TryTakeConnection(greedy));
        Assert.False(budget.TryTakeConnection(greedy));
        Assert.Equal(1, budget.RefusedPerAddress);
        Assert.Equal(0, budget.Refused); // the budget itself had room
        Assert.True(budget.TryTakeConnection(other));
        Assert.Equal(3, budget.InUse);

        budget.ReturnConnection(greedy);
        Assert.True(budget.TryTakeConnection(greedy)); // its share came back with the connection
        Assert.Equal(3, budget.InUse);

        for (int i = 0; i < 5; i++)
        {
            Assert.True(budget.TryTake()); // relays fill the rest
        }

        Assert.False(budget.TryTakeConnection(IPAddress.Parse("192.0.2.3")));
        Assert.Equal(1, budget.Refused); // a spent budget refuses whatever the address's share
    }

    /// <summary>
    /// Regression: shares were kept per IPv6 address, so one host with a /64 (2^64 addresses to connect from) had
    /// as many shares as it liked. An IPv6 address now holds its share by its /64, as an IPv4 address by itself
    /// (written IPv4-mapped or not).
    /// </summary>
    [Fact]
    public void Ipv6_addresses_share_by_their_64_bit_prefix()
    {
        var budget = new DescriptorBudget(8, new LineLogger());
        Assert.True(budget.TryTakeConnection(IPAddress.Parse("2001:db8:1:2::1")));
        Assert.True(budget.TryTakeConnection(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:fffe")));
        Assert.False(budget.TryTakeConnection(IPAddress.Parse("2001:db8:1:2:1234::9")));
        Assert.True(budget.TryTakeConnection(IPAddress.Parse("2001:db8:1:3::1"))); // the next /64 is someone else

        Assert.True(budget.TryTakeConnection(IPAddress.Parse("192.0.2.1")));
        Assert.True(budget.TryTakeConnection(IPAddress.Parse("::ffff:192.0.2.1")));
        Assert.False(budget.TryTakeConnection(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(2, budget.RefusedPerAddress);

        budget.ReturnConnection(IPAddress.Parse("2001:db8:1:2::1"));
        Assert.True(budget.TryTakeConnection(IPAddress.Parse("2001:db8:1:2:1234::9"))); // given back by the prefix, too
    }

    /// <summary>
    /// Behind <c>tcp-proxy-port</c> the descriptor is taken on accept, from the balancer, and the client's share
    /// once its PROXY header names it: a share alone takes no descriptor.
    /// </summary>
    [Fact]
    public void A_share_can_be_taken_apart_from_the_descriptor()
    {
        var budget = new DescriptorBudget(8, new LineLogger());
        IPAddress client = IPAddress.Parse("192.0.2.1");
        Assert.True(budget.TryTake());
        Assert.True(budget.TryTakeShare(client));
        Assert.True(budget.TryTakeShare(client));
        Assert.False(budget.TryTakeShare(client));
        Assert.Equal(1, budget.InUse);
        Assert.Equal(1, budget.RefusedPerAddress);
        Assert.False(budget.TryTakeConnection(client));

        budget.ReturnShare(client);
        Assert.True(budget.TryTakeConnection(client));
        Assert.Equal(2, budget.InUse);
    }

    [Fact]
    public void Concurrent_takes_never_exceed_the_capacity()
    {
        var budget = new DescriptorBudget(1000, new LineLogger());
        int taken = 0;
        Parallel.For(0, 4000, _ =>
        {
            if (budget.TryTake())
            {
                Interlocked.Increment(ref taken);
            }
        });

        Assert.Equal(1000, taken);
        Assert.Equal(1000, budget.InUse);
        Assert.Equal(3000, budget.Refused);
    }

    [Fact]
    public void This_process_gets_a_budget_below_its_open_files_limit()
    {
        var budget = DescriptorBudget.ForThisProcess(new LineLogger());
        string? line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        Assert.NotNull(line);
        string[] fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(fields[1], fields[0]); // the soft limit was raised to the hard one
        if (fields[0] == "unlimited")
        {
            Assert.Equal(long.MaxValue, budget.Capacity); // no limit to keep a reserve under
        }
        else
        {
            long limit = long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(budget.Capacity, 0, limit - 128 - (limit / 32));
        }
    }

}
