using System.Net;
using TurnServer.Core;
using TurnServer.Core.Auth;
using TurnServer.Core.Peers;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Services;
using TurnServer.Stun;

namespace TurnServer.Hosting;

/// <summary>Turns validated turnserver.conf settings into what the protocol engine runs on.</summary>
public static class TurnOptionsFactory
{
    /// <summary>The engine's protocol options for <paramref name="settings"/>.</summary>
    public static TurnOptions CreateOptions(TurnServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new TurnOptions
        {
            Realm = settings.Realm,
            RequireAuthentication = !settings.NoAuth,
            SecureStun = settings.SecureStun,
            Mobility = settings.Mobility,
            ServerRelay = settings.ServerRelay,
            CheckOriginConsistency = settings.CheckOriginConsistency,
            OAuthServerName = settings.OAuth ? settings.ServerName ?? settings.Realm : null,
            StunOnly = settings.StunOnly,
            NoStun = settings.NoStun,
            Fingerprint = settings.Fingerprint,
            Software = settings.NoSoftwareAttribute ? null : "TurnServer " + typeof(TurnOptionsFactory).Assembly.GetName().Version?.ToString(3),
            NonceLifetimeSeconds = settings.StaleNonce,
            MaxAllocationLifetimeSeconds = settings.MaxAllocateLifetime,
            PermissionLifetimeSeconds = settings.PermissionLifetime,
            ChannelLifetimeSeconds = settings.ChannelLifetime,
            UserQuota = settings.UserQuota,
            TotalQuota = settings.TotalQuota,
            MaxBps = settings.MaxBps,
            BpsCapacity = settings.BpsCapacity,
            AllowUdpRelay = !settings.NoUdpRelay,
            AllowTcpRelay = !settings.NoTcpRelay,
            DefaultRelayFamily = settings.DefaultRelayFamily,
            PeerPolicy = CreatePeerPolicy(settings, [], []),
            AlternateServers = settings.AlternateServers,
            TlsAlternateServers = settings.TlsAlternateServers,
            AuxiliaryServers = [.. ListeningAddresses.ResolveEndPoints(settings.AuxServers).Select(TransportAddress.FromEndPoint)],
            UdpSelfBalance = settings.UdpSelfBalance,
            ExternalAddresses = ExternalAddresses(settings),
        };
    }

    /// <summary>
    /// <c>external-ip</c> as a map from private to public address; the single-address form is keyed by the wildcard
    /// of its family (<see cref="IPAddress.Any"/>, <see cref="IPAddress.IPv6Any"/>).
    /// </summary>
    public static Dictionary<IPAddress, IPAddress> ExternalAddresses(TurnServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var external = new Dictionary<IPAddress, IPAddress>();
        foreach (ExternalIpMapping mapping in settings.ExternalIps)
        {
            IPAddress key = mapping.Private
                ?? (mapping.Public.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any);
            external[key] = mapping.Public;
        }

        return external;
    }

    /// <summary>
    /// The peer rules of <paramref name="settings"/> (<c>allow-loopback-peers</c>, <c>allowed-peer-ip</c>,
    /// <c>denied-peer-ip</c>) plus ranges from a user database's <c>allowed_peer_ip</c> and <c>denied_peer_ip</c>.
    /// The private address of each <c>external-ip=public/private</c> is allowed too, as coTURN whitelists it: peers
    /// behind the same NAT reach a relay there even when <c>denied-peer-ip</c> covers private ranges.
    /// </summary>
    public static PeerAddressPolicy CreatePeerPolicy(TurnServerSettings settings, IEnumerable<IPAddressRange> moreAllowed, IEnumerable<IPAddressRange> moreDenied)
    {
        ArgumentNullException.ThrowIfNull(settings);
        IEnumerable<IPAddressRange> externalPrivate = settings.ExternalIps
            .Where(m => m.Private is not null)
            .Select(m => IPAddressRange.Create(m.Private!, m.Private!));
        return new PeerAddressPolicy(settings.AllowLoopbackPeers, denyMulticast: true, [.. settings.AllowedPeerIps, .. externalPrivate, .. moreAllowed], [.. settings.DeniedPeerIps, .. moreDenied]);
    }

    /// <summary>
    /// The credential sources <paramref name="settings"/> name: with <c>use-auth-secret</c>, the REST secrets that
    /// <paramref name="secrets"/> returns (read on each lookup, so they can change); else the static <c>user</c>
    /// entries followed by <paramref name="databaseUsers"/>, if any. None under <c>no-auth</c>.
    /// </summary>
    public static IReadOnlyList<ICredentialSource> CreateCredentialSources(
        TurnServerSettings settings,
        TimeProvider time,
        Func<IReadOnlyList<string>> secrets,
        ICredentialSource? databaseUsers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.NoAuth)
        {
            return [];
        }

        if (settings.UseAuthSecret)
        {
            return [new TurnRestCredentials(secrets, settings.RestApiSeparator, time)];
        }

        var sources = new List<ICredentialSource>();
        var users = new StaticUserCredentials(settings.Realm);
        foreach (UserEntry user in settings.Users)
        {
            if (user.Key is not null)
            {
                users.AddKey(user.Name, user.Key);
            }
            else
            {
                users.AddPassword(user.Name, user.Password ?? string.Empty);
            }
        }

        if (users.Count > 0)
        {
            sources.Add(users);
        }

        if (databaseUsers is not null)
        {
            sources.Add(databaseUsers);
        }

        return sources;
    }
}
