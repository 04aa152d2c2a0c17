using System.Net;
using TurnServer.Core;
using TurnServer.Core.Auth;
using TurnServer.Core.Peers;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting;

/// <summary>Turns validated turnserver.conf settings into what the protocol engine runs on.</summary>
public static class TurnOptionsFactory
{
    /// <summary>The engine's protocol options for <paramref name="settings"/>.</summary>
    public static TurnOptions CreateOptions(TurnServerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var external = new Dictionary<IPAddress, IPAddress>();
        foreach (ExternalIpMapping mapping in settings.ExternalIps)
        {
            IPAddress key = mapping.Private
                ?? (mapping.Public.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any);
            external[key] = mapping.Public;
        }

        return new TurnOptions
        {
            Realm = settings.Realm,
            RequireAuthentication = !settings.NoAuth,
            SecureStun = settings.SecureStun,
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
            AllowUdpRelay = !settings.NoUdpRelay,
            AllowTcpRelay = !settings.NoTcpRelay,
            PeerPolicy = new PeerAddressPolicy(settings.AllowLoopbackPeers, denyMulticast: true, settings.AllowedPeerIps, settings.DeniedPeerIps),
            AlternateServers = settings.AlternateServers,
            ExternalAddresses = external,
        };
    }

    /// <summary>The credential sources <paramref name="settings"/> name: static users and, with use-auth-secret, the REST secrets.</summary>
    public static IReadOnlyList<ICredentialSource> CreateCredentialSources(TurnServerSettings settings, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
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

        if (settings.UseAuthSecret)
        {
            IReadOnlyList<string> secrets = settings.StaticAuthSecrets;
            sources.Add(new TurnRestCredentials(() => secrets, settings.RestApiSeparator, time));
        }

        return sources;
    }
}
