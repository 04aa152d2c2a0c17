using System.Buffers.Binary;
using System.Security.Cryptography;
using TurnServer.Core.Auth;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>
/// RFC 7635 third-party authorization as coTURN's <c>oauth</c> does it: a 401 names the server in
/// THIRD-PARTY-AUTHORIZATION; an ACCESS-TOKEN sealed (AES-GCM) with the key its USERNAME (kid) names carries the MAC
/// key that signs the request.
/// </summary>
public sealed class OAuthTests
{
    private const string ServerName = "turn.example.org";
    private static readonly byte[] North = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] Union = RandomNumberGenerator.GetBytes(16);

    [Fact]
    public void A_challenge_names_the_server_to_get_a_token_for()
    {
        var harness = Harness();

        Response challenge = harness.Client.Send(StunMethod.Allocate, UdpTransport, TransactionId.NewRandom(), sign: false);

        Assert.Equal(StunErrorCodes.Unauthenticated, challenge.ErrorCode);
        Assert.Equal(ServerName, challenge.Text(StunAttributeType.ThirdPartyAuthorization));
    }

    [Fact]
    public void Without_oauth_a_challenge_has_no_server_name_and_a_token_is_not_a_credential()
    {
        var harness = new TurnHarness();
        Response challenge = harness.Client.Send(StunMethod.Allocate, UdpTransport, TransactionId.NewRandom(), sign: false);
        Assert.False(challenge.Message.HasAttribute(StunAttributeType.ThirdPartyAuthorization));

        byte[] macKey = RandomNumberGenerator.GetBytes(20);
        Response response = Signed(harness, StunMethod.Allocate, "north", macKey, challenge.Text(StunAttributeType.Nonce), Token(North, macKey, ServerName, harness), UdpTransport);

        Assert.Equal(StunErrorCodes.Unauthenticated, response.ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.UnknownUser));

        // A password user's request that carries one anyway: ACCESS-TOKEN is comprehension-required (420).
        Assert.True(harness.Client.Allocate().IsSuccess);
        Response refresh = harness.Client.Request(StunMethod.Refresh, w => w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.AccessToken, new byte[40])));
        Assert.Equal(StunErrorCodes.UnknownAttribute, refresh.ErrorCode);
    }

    [Fact]
    public void A_token_allocates_signs_later_requests_and_a_new_token_of_another_kid_takes_over()
    {
        var harness = Harness();
        string nonce = Nonce(harness);
        byte[] first = RandomNumberGenerator.GetBytes(20);

        Response allocated = Signed(harness, StunMethod.Allocate, "north", first, nonce, Token(North, first, ServerName, harness), UdpTransport);

        Assert.True(allocated.IsSuccess);
        Assert.True(allocated.Message.VerifyMessageIntegrity(first));
        Assert.Equal("north", harness.Observer.Created.Single().Username);

        // CreatePermission carries no token: the MAC key of the token signs it.
        Response permitted = Signed(harness, StunMethod.CreatePermission, "north", first, nonce, token: null, PeerAttribute);
        Assert.True(permitted.IsSuccess);
        Assert.True(permitted.Message.VerifyMessageIntegrity(first));

        // A Refresh with a token of another kid: accepted, and its MAC key signs from then on.
        byte[] second = RandomNumberGenerator.GetBytes(20);
        Assert.True(Signed(harness, StunMethod.Refresh, "union", second, nonce, Token(Union, second, ServerName, harness), null).IsSuccess);
        Assert.True(Signed(harness, StunMethod.CreatePermission, "union", second, nonce, token: null, PeerAttribute).IsSuccess);
        Assert.Equal(StunErrorCodes.Unauthenticated, Signed(harness, StunMethod.CreatePermission, "north", first, nonce, token: null, PeerAttribute).ErrorCode);
    }

    /// <summary>
    /// Regression: an allocation made with a token could be refreshed for ever with the token's MAC key after the token
    /// had expired. As coTURN caps a token's session, every lifetime granted with its key ends when the token does,
    /// and only a new token extends it.
    /// </summary>
    [Fact]
    public void An_allocation_made_with_a_token_lives_no_longer_than_the_token_unless_a_new_one_comes()
    {
        var harness = Harness();
        string nonce = Nonce(harness);
        byte[] macKey = RandomNumberGenerator.GetBytes(20);
        static void Hour(StunMessageWriterBox w) => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 3600));

        // Issued 100 s ago for 600 s, and coTURN's 5 s allowance: 505 s left of the 3,600 asked for.
        Response allocated = Signed(harness, StunMethod.Allocate, "north", macKey, nonce, Token(North, macKey, ServerName, harness, ageSeconds: 100), w =>
        {
            UdpTransport(w);
            Hour(w);
        });
        harness.Time.Advance(TimeSpan.FromSeconds(300));
        Response refreshed = Signed(harness, StunMethod.Refresh, "north", macKey, nonce, token: null, Hour);
        byte[] next = RandomNumberGenerator.GetBytes(20);
        Response renewed = Signed(harness, StunMethod.Refresh, "north", next, nonce, Token(North, next, ServerName, harness), Hour);

        Assert.Equal(505u, Lifetime(allocated));
        Assert.Equal(205u, Lifetime(refreshed));
        Assert.Equal(605u, Lifetime(renewed));
    }

    /// <summary>
    /// A newer token can take over an allocation on any request, and its key may end before the allocation does: from
    /// then on requests signed with that key get 401, so that the client brings a new token.
    /// </summary>
    [Fact]
    public void Requests_signed_with_the_key_of_an_expired_token_get_401_while_the_allocation_lives()
    {
        var harness = Harness();
        string nonce = Nonce(harness);
        byte[] first = RandomNumberGenerator.GetBytes(20);
        Assert.True(Signed(harness, StunMethod.Allocate, "north", first, nonce, Token(North, first, ServerName, harness), UdpTransport).IsSuccess);
        byte[] shortLived = RandomNumberGenerator.GetBytes(20);
        Assert.True(Signed(harness, StunMethod.CreatePermission, "north", shortLived, nonce, Token(North, shortLived, ServerName, harness, ageSeconds: 500), PeerAttribute).IsSuccess);

        harness.Time.Advance(TimeSpan.FromSeconds(110)); // 105 s were left of the second token

        Response refused = Signed(harness, StunMethod.CreatePermission, "north", shortLived, nonce, token: null, PeerAttribute);
        Assert.Equal(StunErrorCodes.Unauthenticated, refused.ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.BadAccessToken));
        Assert.Single(harness.Engine.Allocations.All);
    }

    /// <summary>The key that sealed the token ends first: the allocation ends with it, as the token cannot outlive it.</summary>
    [Fact]
    public void An_allocation_made_with_a_token_lives_no_longer_than_the_key_that_sealed_it()
    {
        var keys = new KeySource();
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, OAuthServerName = ServerName }, sources: [keys]);
        keys.Add(OAuthKey.TryCreate("north", Convert.ToBase64String(North), "A256GCM", harness.Time.GetUtcNow().ToUnixTimeSeconds(), 100, out _)!);
        byte[] macKey = RandomNumberGenerator.GetBytes(20);

        Response allocated = Signed(harness, StunMethod.Allocate, "north", macKey, Nonce(harness), Token(North, macKey, ServerName, harness), w =>
        {
            UdpTransport(w);
            w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 3600));
        });

        Assert.Equal(105u, Lifetime(allocated)); // the key's 100 s and the 5 s allowance, not the token's 600
    }

    private static uint Lifetime(Response response)
    {
        Assert.True(response.IsSuccess, $"error {response.ErrorCode}");
        Assert.True(response.Message.TryGetUInt32(StunAttributeType.Lifetime, out uint lifetime));
        return lifetime;
    }

    [Theory]
    [InlineData("another.server", 0, "north")]   // sealed for another server name (the associated data)
    [InlineData(ServerName, 3600, "north")]      // issued an hour ago with a 10-minute lifetime
    [InlineData(ServerName, 0, "unknown-kid")]   // no such key
    public void A_token_that_does_not_hold_is_refused_with_401(string sealedFor, int ageSeconds, string kid)
    {
        var harness = Harness();
        string nonce = Nonce(harness);
        byte[] macKey = RandomNumberGenerator.GetBytes(20);

        Response response = Signed(harness, StunMethod.Allocate, kid, macKey, nonce, Token(North, macKey, sealedFor, harness, ageSeconds), UdpTransport);

        Assert.Equal(StunErrorCodes.Unauthenticated, response.ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.BadAccessToken));
        Assert.Empty(harness.Observer.Created);
    }

    [Fact]
    public void Coturn_clients_keying_hmac_with_the_first_16_bytes_of_the_mac_key_are_understood_and_answered_in_kind()
    {
        var harness = Harness();
        byte[] macKey = RandomNumberGenerator.GetBytes(20);

        Response response = Signed(harness, StunMethod.Allocate, "north", macKey[..16], Nonce(harness), Token(North, macKey, ServerName, harness), UdpTransport);

        Assert.True(response.IsSuccess);
        Assert.True(response.Message.VerifyMessageIntegrity(macKey[..16]));
    }

    [Fact]
    public void A_request_signed_with_another_key_than_the_tokens_is_refused()
    {
        var harness = Harness();
        byte[] macKey = RandomNumberGenerator.GetBytes(20);

        Response response = Signed(harness, StunMethod.Allocate, "north", RandomNumberGenerator.GetBytes(20), Nonce(harness), Token(North, macKey, ServerName, harness), UdpTransport);

        Assert.Equal(StunErrorCodes.Unauthenticated, response.ErrorCode);
        Assert.Equal(1, harness.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity));
    }

    [Fact]
    public void A_password_users_allocation_takes_no_token()
    {
        var harness = Harness();
        Assert.True(harness.Client.Allocate().IsSuccess);
        byte[] macKey = RandomNumberGenerator.GetBytes(20);

        Response response = Signed(harness, StunMethod.Refresh, "north", macKey, harness.Client.Nonce!, Token(North, macKey, ServerName, harness), null);

        Assert.Equal(StunErrorCodes.WrongCredentials, response.ErrorCode);
    }

    [Theory]
    [InlineData("A128GCM", 16, true)]
    [InlineData("A256GCM", 32, true)]
    [InlineData("", 32, true)]
    [InlineData("A256GCM", 16, false)]
    [InlineData("HS256", 32, false)]
    public void Keys_are_read_as_coturn_writes_them(string algorithm, int ikmBytes, bool usable)
    {
        byte[] ikm = RandomNumberGenerator.GetBytes(ikmBytes);

        OAuthKey? key = OAuthKey.TryCreate("kid", Convert.ToBase64String(ikm), algorithm, 0, 0, out string? problem);

        Assert.Equal(usable, key is not null);
        Assert.Equal(usable, problem is null);
        if (key is not null)
        {
            Assert.Equal(ikm[..(algorithm == "A128GCM" ? 16 : 32)], key.AsRsKey);
        }
    }

    private static TurnHarness Harness()
    {
        var keys = new KeySource();
        keys.Add(OAuthKey.TryCreate("north", Convert.ToBase64String(North), "A256GCM", 0, 0, out _)!);
        keys.Add(OAuthKey.TryCreate("union", Convert.ToBase64String(Union), "A128GCM", 0, 0, out _)!);
        var users = new StaticUserCredentials(TurnHarness.Realm);
        users.AddPassword("alice", "secret");
        return new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, OAuthServerName = ServerName }, sources: [users, keys]);
    }

    private static string Nonce(TurnHarness harness) =>
        harness.Client.Send(StunMethod.Allocate, UdpTransport, TransactionId.NewRandom(), sign: false).Text(StunAttributeType.Nonce);

    private static void UdpTransport(StunMessageWriterBox w) => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));

    private static void PeerAttribute(StunMessageWriterBox w) =>
        w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, TransportAddress.FromEndPoint(System.Net.IPEndPoint.Parse("203.0.113.9:5000"))));

    /// <summary>A request signed as coTURN's uclient signs it under oauth: USERNAME is the kid, the MAC key is the HMAC key.</summary>
    private static Response Signed(TurnHarness harness, StunMethod method, string kid, byte[] macKey, string nonce, byte[]? token, Action<StunMessageWriterBox>? attributes)
    {
        var box = new StunMessageWriterBox();
        attributes?.Invoke(box);
        var buffer = new byte[2048];
        var writer = new StunMessageWriter(buffer, method, StunMessageClass.Request, TransactionId.NewRandom());
        box.Apply(ref writer);
        if (token is not null)
        {
            writer.WriteAttribute(StunAttributeType.AccessToken, token);
        }

        writer.WriteText(StunAttributeType.Username, kid);
        writer.WriteText(StunAttributeType.Realm, TurnHarness.Realm);
        writer.WriteText(StunAttributeType.Nonce, nonce);
        writer.WriteMessageIntegrity(macKey);
        return harness.Client.Raw(writer.Written.ToArray())!;
    }

    /// <summary>
    /// A token in coTURN's layout: nonce length, nonce, AES-GCM({MAC key length, MAC key, timestamp, lifetime 600 s})
    /// with the server name as associated data, tag. Issued <paramref name="ageSeconds"/> before the harness's now.
    /// </summary>
    private static byte[] Token(byte[] key, byte[] macKey, string serverName, TurnHarness harness, int ageSeconds = 0)
    {
        byte[] nonce = RandomNumberGenerator.GetBytes(12);
        byte[] block = new byte[2 + macKey.Length + 8 + 4];
        BinaryPrimitives.WriteUInt16BigEndian(block, (ushort)macKey.Length);
        macKey.CopyTo(block, 2);
        BinaryPrimitives.WriteUInt64BigEndian(block.AsSpan(2 + macKey.Length), (ulong)(harness.Time.GetUtcNow().ToUnixTimeSeconds() - ageSeconds) << 16);
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(2 + macKey.Length + 8), 600);

        byte[] token = new byte[2 + 12 + block.Length + 16];
        BinaryPrimitives.WriteUInt16BigEndian(token, 12);
        nonce.CopyTo(token, 2);
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, block, token.AsSpan(14, block.Length), token.AsSpan(14 + block.Length), System.Text.Encoding.UTF8.GetBytes(serverName));
        return token;
    }

    private sealed class KeySource : ICredentialSource, IOAuthKeySource
    {
        private readonly Dictionary<string, OAuthKey> _keys = [];

        public void Add(OAuthKey key) => _keys[key.Kid] = key;

        public CredentialLookupStatus Lookup(string username, string realm, List<byte[]> keys) => CredentialLookupStatus.NotFound;

        public bool TryGetOAuthKey(string kid, out OAuthKey key) => _keys.TryGetValue(kid, out key!);
    }
}
