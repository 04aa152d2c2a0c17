using System.Text;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Core.Auth;

/// <summary>Outcome of authenticating one request.</summary>
public readonly struct AuthenticationResult
{
    private AuthenticationResult(int errorCode, AuthFailureReason reason, string? username, byte[]? key, bool sha256, bool viaAccessToken, long keyExpiresAt)
    {
        ErrorCode = errorCode;
        FailureReason = reason;
        Username = username;
        Key = key;
        UseSha256 = sha256;
        ViaAccessToken = viaAccessToken;
        _keyExpiresAt = keyExpiresAt == long.MaxValue ? 0 : keyExpiresAt;
    }

    // 0 for none, so that the default value (no authentication ran, as under no-auth) has none.
    private readonly long _keyExpiresAt;

    /// <summary>0 when authenticated; else 400, 401 or 438 to answer with.</summary>
    public int ErrorCode { get; }

    /// <summary>Why it failed, when <see cref="ErrorCode"/> is not 0.</summary>
    public AuthFailureReason FailureReason { get; }

    /// <summary>The authenticated username.</summary>
    public string? Username { get; }

    /// <summary>The key that verified; signs the response.</summary>
    public byte[]? Key { get; }

    /// <summary>
    /// The response carries MESSAGE-INTEGRITY-SHA256: the request was verified by it and named a password algorithm
    /// (RFC 8489 section 9.2.4); otherwise MESSAGE-INTEGRITY.
    /// </summary>
    public bool UseSha256 { get; }

    /// <summary>True when authenticated.</summary>
    public bool Succeeded => ErrorCode == 0;

    /// <summary>
    /// Authenticated by an RFC 7635 ACCESS-TOKEN: <see cref="Username"/> is the token's kid and <see cref="Key"/> the
    /// MAC key it carried.
    /// </summary>
    public bool ViaAccessToken { get; }

    /// <summary>
    /// When <see cref="Key"/> stops being good, in Unix seconds: the end of the RFC 7635 access token that carried it
    /// (with coTURN's 5 s allowance), or <see cref="long.MaxValue"/> for a long-term credential and a token without a
    /// lifetime, and for the default value (no authentication ran, as under <c>no-auth</c>). Lifetimes granted with
    /// the key end by then, as coTURN caps them.
    /// </summary>
    public long KeyExpiresAt => _keyExpiresAt == 0 ? long.MaxValue : _keyExpiresAt;

    /// <summary>
    /// Authenticated as <paramref name="username"/>; <paramref name="key"/> signs the response, with SHA-256 when
    /// <paramref name="sha256"/>, and is good until <paramref name="keyExpiresAt"/> (Unix seconds).
    /// </summary>
    internal static AuthenticationResult Success(string username, byte[] key, bool sha256, bool viaAccessToken = false, long keyExpiresAt = long.MaxValue) =>
        new(0, default, username, key, sha256, viaAccessToken, keyExpiresAt);

    /// <summary>Not authenticated: answer <paramref name="code"/> (400, 401 or 438) for <paramref name="reason"/>.</summary>
    internal static AuthenticationResult Failure(int code, AuthFailureReason reason) => new(code, reason, null, null, false, false, long.MaxValue);
}

/// <summary>
/// The long-term credential mechanism, server side (RFC 8489 section 9.2.4), in the RFC's order:
/// no integrity → 401 challenge; integrity without USERNAME, REALM or NONCE → 400; unknown user or wrong realm
/// → 401; integrity that does not verify → 401; a nonce no longer valid → 438 (last, unlike RFC 5389, so that only
/// a client that knows the password is told to retry with a fresh nonce). MESSAGE-INTEGRITY-SHA256, when present,
/// is the one verified, even beside MESSAGE-INTEGRITY. Keys come from the configured
/// <see cref="ICredentialSource"/>s, or from the allocation when the same user signs a later request. With an OAuth
/// server name (coTURN's <c>oauth</c>, RFC 7635), a request carrying ACCESS-TOKEN is signed with the MAC key inside
/// the token, which opens with the <see cref="OAuthKey"/> its USERNAME (the kid) names.
/// </summary>
public sealed class LongTermCredentialAuthenticator
{
    [ThreadStatic]
    private static List<byte[]>? t_keys;

    /// <summary>A key no user has, checked against requests of unknown users (random per process).</summary>
    private static readonly byte[] UnknownUserKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(MessageIntegrity.LongTermKeyLength);

    private readonly string _realm;
    private readonly byte[] _realmBytes;
    private readonly NonceService _nonces;
    private volatile IReadOnlyList<ICredentialSource> _sources;
    private readonly ServerCounters _counters;
    private readonly byte[]? _oauthServerName;
    private readonly TimeProvider _time;

    /// <summary>
    /// Creates an authenticator for <paramref name="realm"/>; with <paramref name="oauthServerName"/> it also takes
    /// RFC 7635 access tokens sealed for that server name, with keys from the sources that are <see cref="IOAuthKeySource"/>s.
    /// </summary>
    public LongTermCredentialAuthenticator(string realm, NonceService nonces, IReadOnlyList<ICredentialSource> sources, ServerCounters counters, string? oauthServerName = null, TimeProvider? time = null)
    {
        _realm = realm;
        _realmBytes = Encoding.UTF8.GetBytes(realm);
        _nonces = nonces;
        _sources = sources;
        _counters = counters;
        OAuthServerName = oauthServerName;
        _oauthServerName = oauthServerName is null ? null : Encoding.UTF8.GetBytes(oauthServerName);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The server name sent in THIRD-PARTY-AUTHORIZATION and sealed into access tokens; null without OAuth.</summary>
    public string? OAuthServerName { get; }

    /// <summary>
    /// Where keys come from. Replaced whole on reload (SIGHUP); a request being authenticated finishes with the list
    /// it started with.
    /// </summary>
    public IReadOnlyList<ICredentialSource> Sources
    {
        get => _sources;
        set => _sources = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The realm sent in challenges.</summary>
    public string Realm => _realm;

    /// <summary>Issues a nonce for a challenge to <paramref name="client"/>.</summary>
    public string CreateNonce(in TransportAddress client) => _nonces.Create(client);

    /// <summary>
    /// Authenticates <paramref name="request"/> from <paramref name="client"/>. When the 5-tuple has an allocation,
    /// pass its username and key, and when the key came with an access token, the Unix second it expires
    /// (<paramref name="allocationKeyExpiresAt"/>): the same user is then checked against that key without a lookup,
    /// and gets 401 once it has expired, so that the client brings a new token.
    /// </summary>
    public AuthenticationResult Authenticate(in StunMessageReader request, in TransportAddress client, string? allocationUser, byte[]? allocationKey, long allocationKeyExpiresAt = long.MaxValue)
    {
        if (!request.HasMessageIntegrity && !request.HasMessageIntegritySha256)
        {
            return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.Challenge);
        }

        if (!request.TryGetAttribute(StunAttributeType.Username, out ReadOnlySpan<byte> usernameBytes)
            || !request.TryGetAttribute(StunAttributeType.Realm, out ReadOnlySpan<byte> realm)
            || !request.TryGetAttribute(StunAttributeType.Nonce, out ReadOnlySpan<byte> nonce))
        {
            return Fail(StunErrorCodes.BadRequest, AuthFailureReason.MissingAttributes);
        }

        AuthenticationResult result = VerifyCredentials(request, realm, usernameBytes, allocationUser, allocationKey, allocationKeyExpiresAt);
        if (result.Succeeded && _nonces.Validate(nonce, client) != NonceValidity.Valid)
        {
            return Fail(StunErrorCodes.StaleNonce, AuthFailureReason.StaleNonce);
        }

        return result;
    }

    private AuthenticationResult VerifyCredentials(in StunMessageReader request, ReadOnlySpan<byte> realm, ReadOnlySpan<byte> usernameBytes, string? allocationUser, byte[]? allocationKey, long allocationKeyExpiresAt)
    {
        // Section 9.2.4: "If the MESSAGE-INTEGRITY-SHA256 attribute is present, compute the value ... Otherwise ...
        // MESSAGE-INTEGRITY".
        bool sha256 = request.HasMessageIntegritySha256;

        // Its last paragraph: a request with neither PASSWORD-ALGORITHM nor PASSWORD-ALGORITHMS is processed as MD5,
        // and then the response carries MESSAGE-INTEGRITY "instead of" MESSAGE-INTEGRITY-SHA256.
        bool signSha256 = sha256
            && (request.HasAttribute(StunAttributeType.PasswordAlgorithm) || request.HasAttribute(StunAttributeType.PasswordAlgorithms));

        // Section 14.6 allows a truncated MESSAGE-INTEGRITY-SHA256 only where a STUN usage says so, and TURN does not.
        if (sha256 && request.MessageIntegritySha256Length != StunConstants.MessageIntegritySha256Length)
        {
            return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadIntegrity);
        }

        if (!realm.SequenceEqual(_realmBytes))
        {
            return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.WrongRealm);
        }

        string username = Encoding.UTF8.GetString(usernameBytes);
        if (_oauthServerName is not null && request.TryGetAttribute(StunAttributeType.AccessToken, out ReadOnlySpan<byte> token))
        {
            long expiresAt = 0;
            byte[]? macKey = TryGetOAuthKey(username, out OAuthKey oauthKey)
                ? AccessTokens.TryOpen(token, oauthKey, _oauthServerName, _time.GetUtcNow().ToUnixTimeSeconds(), out expiresAt)
                : null;
            if (macKey is null)
            {
                return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadAccessToken);
            }

            // RFC 7635 makes the 20-byte MAC key the HMAC key; coTURN's clients key HMAC-SHA1 with its first 16 bytes
            // (the size of a long-term key). Either verifies; the one that did signs the answer.
            if (Verify(request, sha256, macKey))
            {
                return AuthenticationResult.Success(username, macKey, signSha256, viaAccessToken: true, expiresAt);
            }

            byte[] truncated = macKey[..MessageIntegrity.LongTermKeyLength];
            return Verify(request, sha256, truncated)
                ? AuthenticationResult.Success(username, truncated, signSha256, viaAccessToken: true, expiresAt)
                : Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadIntegrity);
        }

        if (allocationKey is not null && string.Equals(username, allocationUser, StringComparison.Ordinal))
        {
            if (_time.GetUtcNow().ToUnixTimeSeconds() >= allocationKeyExpiresAt)
            {
                return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadAccessToken);
            }

            return Verify(request, sha256, allocationKey)
                ? AuthenticationResult.Success(username, allocationKey, signSha256, keyExpiresAt: allocationKeyExpiresAt)
                : Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadIntegrity);
        }

        List<byte[]> keys = t_keys ??= [];
        keys.Clear();
        foreach (ICredentialSource source in _sources)
        {
            source.Lookup(username, _realm, keys);
        }

        if (keys.Count == 0)
        {
            // One MAC as for a known user, so the time to answer does not tell which usernames exist.
            _ = Verify(request, sha256, UnknownUserKey);
            return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.UnknownUser);
        }

        foreach (byte[] key in keys)
        {
            if (Verify(request, sha256, key))
            {
                keys.Clear();
                return AuthenticationResult.Success(username, key, signSha256);
            }
        }

        keys.Clear();
        return Fail(StunErrorCodes.Unauthenticated, AuthFailureReason.BadIntegrity);
    }

    private bool TryGetOAuthKey(string kid, out OAuthKey key)
    {
        foreach (ICredentialSource source in _sources)
        {
            if (source is IOAuthKeySource keys && keys.TryGetOAuthKey(kid, out key))
            {
                return true;
            }
        }

        key = null!;
        return false;
    }

    private static bool Verify(in StunMessageReader request, bool sha256, byte[] key) =>
        sha256 ? request.VerifyMessageIntegritySha256(key) : request.VerifyMessageIntegrity(key);

    private AuthenticationResult Fail(int code, AuthFailureReason reason)
    {
        _counters.AuthFailed(reason);
        return AuthenticationResult.Failure(code, reason);
    }
}
