using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>coTURN's check-origin-consistency: requests on an allocation keep the ORIGIN of its Allocate.</summary>
public sealed class OriginConsistencyTests
{
    private const string Peer = "203.0.113.9:5000";

    [Theory]
    [InlineData("https://example.org", true)]
    [InlineData("https://EXAMPLE.org:443", true)]
    [InlineData("https://example.org/some/page", true)]
    [InlineData("http://example.org", false)]
    [InlineData("https://example.org:8443", false)]
    [InlineData("https://evil.example", false)]
    [InlineData(null, false)]
    public void Requests_must_name_the_allocations_origin(string? origin, bool accepted)
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, CheckOriginConsistency = true });
        Assert.True(harness.Client.Allocate(WithOrigin("https://Example.org")).IsSuccess);

        Response response = harness.Client.Request(StunMethod.CreatePermission, w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, TransportAddress.FromEndPoint(System.Net.IPEndPoint.Parse(Peer))));
            WithOrigin(origin)(w);
        });

        Assert.Equal(accepted ? 0 : StunErrorCodes.WrongCredentials, response.ErrorCode);
        Assert.Equal(accepted ? 1 : 0, harness.Engine.Allocations.All.Single().Permissions.Count);
    }

    [Fact]
    public void With_several_origins_the_allocation_keeps_the_last_and_a_request_passes_when_any_matches()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, CheckOriginConsistency = true });
        Assert.True(harness.Client.Allocate(w =>
        {
            WithOrigin("https://first.example")(w);
            WithOrigin("https://last.example")(w);
        }).IsSuccess);

        Assert.Equal("https://last.example:443", harness.Engine.Allocations.All.Single().Origin);
        Assert.True(harness.Client.Request(StunMethod.Refresh, w =>
        {
            WithOrigin("https://other.example")(w);
            WithOrigin("https://LAST.example:443")(w);
        }).IsSuccess);
        Assert.Equal(StunErrorCodes.WrongCredentials, Refresh(harness, "https://first.example").ErrorCode);
    }

    [Fact]
    public void An_allocation_made_without_an_origin_refuses_requests_that_bring_one()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, CheckOriginConsistency = true });
        Assert.True(harness.Client.Allocate().IsSuccess);

        Assert.True(Refresh(harness, origin: null).IsSuccess);
        Assert.Equal(StunErrorCodes.WrongCredentials, Refresh(harness, "https://example.org").ErrorCode);
    }

    [Fact]
    public void Without_the_option_origins_are_not_compared()
    {
        var harness = new TurnHarness();
        Assert.True(harness.Client.Allocate(WithOrigin("https://example.org")).IsSuccess);

        Assert.True(Refresh(harness, "https://evil.example").IsSuccess);
        Assert.Null(harness.Engine.Allocations.All.Single().Origin);
    }

    private static Response Refresh(TurnHarness harness, string? origin) => harness.Client.Request(StunMethod.Refresh, w =>
    {
        w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 600));
        WithOrigin(origin)(w);
    });

    private static Action<StunMessageWriterBox> WithOrigin(string? origin) => w =>
    {
        if (origin is not null)
        {
            w.Add((ref StunMessageWriter x) => x.WriteText(StunAttributeType.Origin, origin));
        }
    };
}
