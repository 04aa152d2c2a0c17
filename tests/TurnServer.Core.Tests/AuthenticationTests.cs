using System.Globalization;
using TurnServer.Core.Auth;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

public class AuthenticationTests
{
    [Fact]
    public void Wrong_password_is_401_with_a_new_challenge_and_no_integrity()
    {
        var harness = new TurnHarness();
        harness.Client.Password = "wrong";
        Response response = harness.Client.Allocate();
        Assert.Equal(401, response.ErrorCode);
        Assert.False(response.Message.HasMessageIntegrity);
        Assert.Equal(TurnHarness.Realm, response.Text(StunAttributeType.Realm));
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity));
        Assert.Equal(0, harness.Engine.Allocations.Count);
    }

    [Fact]
    public void Unknown_user_and_wrong_realm_are_401()
    {
        var harness = new TurnHarness();
        harness.Client.User = "mallory";
        Assert.Equal(401, harness.Client.Allocate().ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.UnknownUser));

        var other = harness.NewClient("198.51.100.50", 1);
        other.Realm = "elsewhere.org";
        Assert.Equal(401, other.Allocate().ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.WrongRealm));
    }

    [Fact]
    public void Integrity_without_nonce_is_400()
    {
        var harness = new TurnHarness();
        var buffer = new byte[512];
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
        writer.WriteText(StunAttributeType.Username, "alice");
        writer.WriteText(StunAttributeType.Realm, TurnHarness.Realm);
        writer.WriteMessageIntegrity(harness.Client.Key);
        Assert.Equal(400, harness.Client.Raw(writer.Written.ToArray())!.ErrorCode);
    }

    [Fact]
    public void Expired_nonce_is_438_and_the_client_succeeds_with_the_new_one()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, NonceLifetimeSeconds = 300 });
        Assert.True(harness.Client.Allocate().IsSuccess);
        string oldNonce = harness.Client.Nonce!;
        harness.Time.Advance(TimeSpan.FromSeconds(301)); // the nonce is stale, the 600 s allocation is not

        Response stale = harness.Client.Send(StunMethod.Refresh, null, TransactionId.NewRandom(), sign: true);
        Assert.Equal(438, stale.ErrorCode);
        Assert.NotEqual(oldNonce, stale.Text(StunAttributeType.Nonce));
        Assert.Equal(TurnHarness.Realm, stale.Text(StunAttributeType.Realm));

        Assert.True(harness.Client.Refresh(600).IsSuccess); // retries with the fresh nonce
    }

    [Fact]
    public void A_nonce_is_only_good_from_the_ip_it_was_issued_to()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        var other = harness.NewClient("198.51.100.99", 40000);
        other.Nonce = harness.Client.Nonce;
        Assert.Equal(438, other.Send(StunMethod.Allocate, w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)), TransactionId.NewRandom(), sign: true).ErrorCode);
    }

    /// <summary>RFC 8489 section 9.2.4: no two clients get one NONCE, even behind one NAT address in one second.</summary>
    [Fact]
    public void Two_clients_behind_one_address_challenged_at_once_get_different_nonces_and_both_succeed()
    {
        var harness = new TurnHarness();
        var first = harness.NewClient("198.51.100.7", 40000);
        var second = harness.NewClient("198.51.100.7", 40001);

        Response firstChallenge = first.Send(StunMethod.Allocate, w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)), TransactionId.NewRandom(), sign: false);
        Response secondChallenge = second.Send(StunMethod.Allocate, w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)), TransactionId.NewRandom(), sign: false);

        Assert.Equal((401, 401), (firstChallenge.ErrorCode, secondChallenge.ErrorCode));
        Assert.NotEqual(firstChallenge.Text(StunAttributeType.Nonce), secondChallenge.Text(StunAttributeType.Nonce));
        Assert.True(first.Allocate().IsSuccess);
        Assert.True(second.Allocate().IsSuccess);
    }

    [Fact]
    public void Nonces_never_go_stale_with_lifetime_zero()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, NonceLifetimeSeconds = 0 });
        harness.Client.Allocate();
        harness.Client.Refresh(0);
        harness.Time.Advance(TimeSpan.FromDays(30));
        Response response = harness.Client.Send(StunMethod.Allocate, w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)), TransactionId.NewRandom(), sign: true);
        Assert.True(response.IsSuccess);
    }

    [Fact]
    public void Another_user_on_an_allocation_is_441()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.User = "bob";
        harness.Client.Password = "builder";
        Response response = harness.Client.Refresh(600);
        Assert.Equal(441, response.ErrorCode);
        Assert.True(response.Message.VerifyMessageIntegrity(harness.Client.Key));
    }

    [Fact]
    public void Another_users_allocate_on_an_allocated_five_tuple_is_437_not_441()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.User = "bob";
        harness.Client.Password = "builder";
        Response response = harness.Client.Allocate();
        Assert.Equal(437, response.ErrorCode);
        Assert.True(response.Message.VerifyMessageIntegrity(harness.Client.Key));
    }

    [Fact]
    public void A_wrong_password_with_a_stale_nonce_is_401_and_only_the_right_one_learns_the_nonce_is_stale()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, NonceLifetimeSeconds = 300 });
        Assert.True(harness.Client.Allocate().IsSuccess);
        harness.Time.Advance(TimeSpan.FromSeconds(301));

        // RFC 8489 section 9.2.4 checks the nonce last, after the integrity.
        harness.Client.Password = "wrong";
        Assert.Equal(401, harness.Client.Send(StunMethod.Refresh, null, TransactionId.NewRandom(), sign: true).ErrorCode);
        harness.Client.Password = "secret";
        Assert.Equal(438, harness.Client.Send(StunMethod.Refresh, null, TransactionId.NewRandom(), sign: true).ErrorCode);
    }

    [Theory]
    [InlineData(true, true, true)] // both valid: SHA-256 is the one checked
    [InlineData(false, true, true)] // a bad MESSAGE-INTEGRITY does not matter beside a good MESSAGE-INTEGRITY-SHA256
    [InlineData(true, false, false)] // a bad MESSAGE-INTEGRITY-SHA256 fails even beside a good MESSAGE-INTEGRITY
    public void Message_integrity_sha256_is_the_one_verified_when_present(bool goodSha1, bool goodSha256, bool succeeds)
    {
        var harness = new TurnHarness();
        var buffer = new byte[512];
        StunMessageWriter writer = AllocateWithCredentials(harness, buffer);
        writer.WriteMessageIntegrity(goodSha1 ? harness.Client.Key : new byte[16]);
        writer.WriteMessageIntegritySha256(goodSha256 ? harness.Client.Key : new byte[16]);

        Response response = harness.Client.Raw(writer.Written.ToArray())!;
        Assert.Equal(succeeds, response.IsSuccess);
        Assert.Equal(succeeds ? 0 : 401, response.ErrorCode);
    }

    /// <summary>
    /// RFC 8489 section 9.2.4, last paragraph: a request naming no password algorithm is processed as MD5, and its
    /// response carries MESSAGE-INTEGRITY instead of MESSAGE-INTEGRITY-SHA256; one that names an algorithm gets
    /// MESSAGE-INTEGRITY-SHA256.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_sha256_signed_request_is_answered_with_sha256_only_when_it_names_a_password_algorithm(bool namesAlgorithm)
    {
        var harness = new TurnHarness();
        var buffer = new byte[512];
        StunMessageWriter writer = AllocateWithCredentials(harness, buffer);
        if (namesAlgorithm)
        {
            writer.WritePasswordAlgorithm(1); // MD5, the algorithm the key was made with
        }

        writer.WriteMessageIntegritySha256(harness.Client.Key);

        Response response = harness.Client.Raw(writer.Written.ToArray())!;
        Assert.True(response.IsSuccess);
        Assert.Equal(namesAlgorithm, response.Message.HasMessageIntegritySha256);
        Assert.Equal(!namesAlgorithm, response.Message.HasMessageIntegrity);
        Assert.True(namesAlgorithm ? response.Message.VerifyMessageIntegritySha256(harness.Client.Key) : response.Message.VerifyMessageIntegrity(harness.Client.Key));
    }

    /// <summary>
    /// RFC 8489 section 14.6 lets a STUN usage allow a MESSAGE-INTEGRITY-SHA256 truncated to 16 bytes; TURN does not,
    /// so a truncated one is refused even when it is the right MAC's first 16 bytes.
    /// </summary>
    [Fact]
    public void A_truncated_message_integrity_sha256_is_401()
    {
        var harness = new TurnHarness();
        var buffer = new byte[512];
        StunMessageWriter writer = AllocateWithCredentials(harness, buffer);
        int start = writer.Length;
        Span<byte> value = writer.AppendAttribute((ushort)StunAttributeType.MessageIntegritySha256, 16);
        System.Security.Cryptography.HMACSHA256.HashData(harness.Client.Key, buffer.AsSpan(0, start)).AsSpan(0, 16).CopyTo(value);
        byte[] request = writer.Written.ToArray();
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(request, out StunMessageReader parsed));
        Assert.True(parsed.VerifyMessageIntegritySha256(harness.Client.Key)); // a valid truncated MAC, as the codec reads it

        Response response = harness.Client.Raw(request)!;
        Assert.Equal(401, response.ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity));
        Assert.Empty(harness.Engine.Allocations.All);
    }

    /// <summary>An Allocate from alice with USERNAME, REALM and the nonce of a fresh 401, ready for its integrity attributes.</summary>
    private static StunMessageWriter AllocateWithCredentials(TurnHarness harness, byte[] buffer)
    {
        Response challenge = harness.Client.Send(StunMethod.Allocate, null, TransactionId.NewRandom(), sign: false);
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
        writer.WriteText(StunAttributeType.Username, "alice");
        writer.WriteText(StunAttributeType.Realm, TurnHarness.Realm);
        writer.WriteText(StunAttributeType.Nonce, challenge.Text(StunAttributeType.Nonce));
        return writer;
    }

    [Fact]
    public void Hex_key_user_authenticates_like_the_password_it_came_from()
    {
        byte[] key = MessageIntegrity.ComputeLongTermKey("dave", TurnHarness.Realm, "pw");
        var harness = new TurnHarness(users: u => u.AddKey("dave", key));
        Assert.True(harness.NewClient("198.51.100.20", 1, "dave", "pw").Allocate().IsSuccess);
        Assert.Equal(401, harness.NewClient("198.51.100.21", 1, "dave", "nope").Allocate().ErrorCode);
    }

    [Fact]
    public void Rest_credentials_work_with_any_configured_secret_until_they_expire()
    {
        var time = new ManualTimeProvider();
        string[] secrets = ["first-secret", "second-secret"];
        var rest = new TurnRestCredentials(() => secrets, ':', time);
        var harness = new TurnHarness(sources: [rest]);
        long expiry = time.GetUtcNow().ToUnixTimeSeconds() + 3600;
        string username = expiry.ToString(CultureInfo.InvariantCulture) + ":webrtc-user";

        var first = harness.NewClient("198.51.100.30", 1, username, TurnRestCredentials.ComputePassword("second-secret", username));
        Assert.True(first.Allocate().IsSuccess);

        var wrong = harness.NewClient("198.51.100.31", 1, username, TurnRestCredentials.ComputePassword("other", username));
        Assert.Equal(401, wrong.Allocate().ErrorCode);

        string expired = (time.GetUtcNow().ToUnixTimeSeconds() - 1).ToString(CultureInfo.InvariantCulture) + ":webrtc-user";
        var late = harness.NewClient("198.51.100.32", 1, expired, TurnRestCredentials.ComputePassword("first-secret", expired));
        Assert.Equal(401, late.Allocate().ErrorCode);
    }

    [Theory]
    [InlineData("1700000000:alice", ':', true, 1700000000)]
    [InlineData("alice:1700000000", ':', true, 1700000000)]
    [InlineData("1700000000", ':', true, 1700000000)]
    [InlineData("1700000000-alice", '-', true, 1700000000)]
    [InlineData("alice", ':', false, 0)]
    [InlineData("alice:bob", ':', false, 0)]
    public void Rest_username_timestamp_is_read_as_coturn_reads_it(string username, char separator, bool ok, long expected)
    {
        Assert.Equal(ok, TurnRestCredentials.TryGetExpiry(username, separator, out long expiry));
        Assert.Equal(expected, expiry);
    }

    [Fact]
    public void Binding_needs_no_credentials_unless_secure_stun()
    {
        var open = new TurnHarness();
        Response binding = open.Client.Request(StunMethod.Binding, sign: false);
        Assert.True(binding.IsSuccess);
        Assert.Equal(open.Client.FiveTuple.ClientAddress, binding.XorAddress(StunAttributeType.XorMappedAddress));
        Assert.Equal(1, open.Engine.Counters.BindingRequests);
        Assert.Equal(1, open.Engine.Counters.BindingResponses);

        var secure = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, SecureStun = true });
        Assert.Equal(401, secure.Client.Request(StunMethod.Binding, sign: false).ErrorCode);
        Response signed = secure.Client.Request(StunMethod.Binding);
        Assert.True(signed.IsSuccess);
        Assert.True(signed.Message.VerifyMessageIntegrity(secure.Client.Key));
        Assert.Equal(2, secure.Engine.Counters.BindingErrors); // the explicit unsigned try, and the harness's own first try
        Assert.Equal(1, secure.Engine.Counters.BindingResponses);
    }

    [Fact]
    public void Stun_only_ignores_turn_and_no_stun_ignores_binding()
    {
        var stunOnly = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, StunOnly = true });
        Assert.Null(stunOnly.Client.Raw(stunOnly.Client.Build(StunMethod.Allocate, StunMessageClass.Request, null, TransactionId.NewRandom(), sign: false)));
        Assert.True(stunOnly.Client.Request(StunMethod.Binding, sign: false).IsSuccess);

        var noStun = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, NoStun = true });
        Assert.Null(noStun.Client.Raw(noStun.Client.Build(StunMethod.Binding, StunMessageClass.Request, null, TransactionId.NewRandom(), sign: false)));
        Assert.Equal(1, noStun.Engine.Counters.GetDropped(DropReason.StunIgnoredByConfiguration));
    }

    [Fact]
    public void Unknown_method_is_400()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        Assert.Equal(400, harness.Client.Request((StunMethod)0x0FF).ErrorCode);
    }

    [Fact]
    public void Responses_and_stray_indications_from_clients_are_dropped_and_counted()
    {
        var harness = new TurnHarness();
        Assert.Null(harness.Client.Raw(harness.Client.Build(StunMethod.Binding, StunMessageClass.SuccessResponse, null, TransactionId.NewRandom(), sign: false)));
        Assert.Null(harness.Client.Raw(harness.Client.Build(StunMethod.Data, StunMessageClass.Indication, null, TransactionId.NewRandom(), sign: false)));
        Assert.Equal(2, harness.Engine.Counters.GetDropped(DropReason.StunUnexpectedClass));
    }
}
