using TurnServer.Core.Auth;
using TurnServer.Core.Peers;

namespace TurnServer.UserDb;

/// <summary>What the turndb holds for the server's realm at one moment.</summary>
/// <param name="Keys">Long-term keys by user name (16 bytes each, RFC 8489 section 9.2.2), from <c>turnusers_lt</c>.</param>
/// <param name="Secrets">TURN REST API shared secrets, from <c>turn_secret</c>.</param>
/// <param name="AllowedPeers">Ranges from <c>allowed_peer_ip</c> (this realm's and those with an empty realm).</param>
/// <param name="DeniedPeers">Ranges from <c>denied_peer_ip</c> (this realm's and those with an empty realm).</param>
/// <param name="UserQuota">The realm's <c>user-quota</c> option, if set.</param>
/// <param name="TotalQuota">The realm's <c>total-quota</c> option, if set.</param>
/// <param name="MaxBps">The realm's <c>max-bps</c> option (bytes per second), if set.</param>
/// <param name="Problems">Rows that could not be used, each saying why (they are skipped), and tables that could not be read.</param>
public sealed record UserDatabaseSnapshot(
    IReadOnlyDictionary<string, byte[]> Keys,
    IReadOnlyList<string> Secrets,
    IReadOnlyList<IPAddressRange> AllowedPeers,
    IReadOnlyList<IPAddressRange> DeniedPeers,
    int? UserQuota,
    int? TotalQuota,
    int? MaxBps,
    IReadOnlyList<string> Problems)
{
    /// <summary>Nothing yet: before the first successful read.</summary>
    public static UserDatabaseSnapshot Empty { get; } = new(new Dictionary<string, byte[]>(), [], [], [], null, null, null, []);

    /// <summary>RFC 7635 keys by kid, from <c>oauth_key</c> (whatever their realm, as coTURN looks them up by kid alone).</summary>
    public IReadOnlyDictionary<string, OAuthKey> OAuthKeys { get; init; } = new Dictionary<string, OAuthKey>();
}
