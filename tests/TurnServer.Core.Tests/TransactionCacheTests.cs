using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

public class TransactionCacheTests
{
    private static readonly TransportAddress Server = new(IPAddress.Parse("192.0.2.1"), 3478);
    private static readonly FiveTuple First = new(new TransportAddress(IPAddress.Parse("198.51.100.7"), 40000), Server, TransportProtocol.Udp);
    private static readonly FiveTuple Second = new(new TransportAddress(IPAddress.Parse("198.51.100.7"), 40001), Server, TransportProtocol.Udp);

    [Fact]
    public void A_retransmission_gets_the_cached_answer_only_on_its_own_5_tuple_and_method_within_40_s()
    {
        var time = new ManualTimeProvider();
        var cache = new TransactionCache(time);
        TransactionId id = TransactionId.NewRandom();
        byte[] answer = Answer(StunMethod.Refresh, id);
        cache.Add(First, id, answer);

        Assert.True(cache.TryGet(First, id, StunMethod.Refresh, out byte[] cached));
        Assert.Equal(answer, cached);
        Assert.False(cache.TryGet(Second, id, StunMethod.Refresh, out _)); // another client's request with the same ID
        Assert.False(cache.TryGet(First, id, StunMethod.CreatePermission, out _)); // the same ID reused for another method

        time.Advance(TransactionCache.Retention);
        Assert.False(cache.TryGet(First, id, StunMethod.Refresh, out _));
        cache.RemoveExpired(time.GetTimestamp());
        Assert.Equal(0, cache.Count);
    }

    /// <summary>
    /// A client that sends request after request under new transaction IDs fills only its own share: past it its
    /// answers are not kept, another client's still are, and its share comes back as its entries expire.
    /// </summary>
    [Fact]
    public void One_5_tuple_holds_at_most_its_share_and_gets_it_back_as_entries_expire()
    {
        var time = new ManualTimeProvider();
        var cache = new TransactionCache(time);
        var ids = new List<TransactionId>();
        for (int i = 0; i <= TransactionCache.MaxEntriesPerFiveTuple; i++)
        {
            TransactionId id = TransactionId.NewRandom();
            ids.Add(id);
            cache.Add(First, id, Answer(StunMethod.CreatePermission, id));
        }

        Assert.Equal(TransactionCache.MaxEntriesPerFiveTuple, cache.Count);
        Assert.True(cache.TryGet(First, ids[0], StunMethod.CreatePermission, out _));
        Assert.False(cache.TryGet(First, ids[^1], StunMethod.CreatePermission, out _)); // past the share: not kept

        TransactionId other = TransactionId.NewRandom();
        cache.Add(Second, other, Answer(StunMethod.CreatePermission, other));
        Assert.True(cache.TryGet(Second, other, StunMethod.CreatePermission, out _));

        // Answering the same transaction again replaces its entry without taking more of the share.
        cache.Add(First, ids[0], Answer(StunMethod.CreatePermission, ids[0]));
        Assert.Equal(TransactionCache.MaxEntriesPerFiveTuple + 1, cache.Count);

        time.Advance(TransactionCache.Retention);
        cache.RemoveExpired(time.GetTimestamp());
        Assert.Equal(0, cache.Count);
        TransactionId later = TransactionId.NewRandom();
        cache.Add(First, later, Answer(StunMethod.CreatePermission, later));
        Assert.True(cache.TryGet(First, later, StunMethod.CreatePermission, out _));
    }

    /// <summary>Under no-auth anyone, from any spoofed source, can draw error answers: they are kept only for a 5-tuple with an allocation.</summary>
    [Fact]
    public void Without_authentication_errors_are_cached_only_for_a_5_tuple_with_an_allocation()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, RequireAuthentication = false });
        TurnHarness.SimulatedClient stranger = harness.NewClient("198.51.100.50", 1000);
        TransactionId id = TransactionId.NewRandom();
        Assert.Equal(437, stranger.Send(StunMethod.Refresh, null, id, sign: false).ErrorCode);
        Assert.Equal(0, harness.Engine.Transactions.Count);

        Assert.True(harness.Client.Send(StunMethod.Allocate, w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)), TransactionId.NewRandom(), sign: false).IsSuccess);
        int cached = harness.Engine.Transactions.Count;
        Assert.Equal(400, harness.Client.Send(StunMethod.ChannelBind, null, TransactionId.NewRandom(), sign: false).ErrorCode);
        Assert.Equal(cached + 1, harness.Engine.Transactions.Count);
    }

    private static byte[] Answer(StunMethod method, TransactionId id)
    {
        var buffer = new byte[64];
        var writer = new StunMessageWriter(buffer, method, StunMessageClass.SuccessResponse, id);
        return writer.Written.ToArray();
    }
}
