using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace TurnServer.Hosting.Services;

/// <summary>
/// The IPs to listen and relay on. coTURN listens on each interface address separately rather than on a wildcard, so
/// every reply leaves from the address the client sent to; with no <c>listening-ip</c> this does the same, and a
/// wildcard (<c>0.0.0.0</c>, <c>::</c>, as in many coTURN configs) stands for every interface address of its family,
/// so it is never advertised to a client as a relayed or server address.
/// </summary>
internal static class ListeningAddresses
{
    /// <summary>
    /// <paramref name="configured"/> with each wildcard replaced by the interface addresses of its family (IPv6
    /// link-local excluded); all interface addresses when nothing is configured. No duplicates, in order.
    /// </summary>
    public static IReadOnlyList<IPAddress> Resolve(IReadOnlyList<IPAddress> configured)
    {
        if (configured.Count == 0)
        {
            return InterfaceAddresses(AddressFamily.InterNetwork, AddressFamily.InterNetworkV6);
        }

        if (!configured.Any(IsWildcard))
        {
            return configured;
        }

        var addresses = new List<IPAddress>();
        foreach (IPAddress ip in configured)
        {
            if (IsWildcard(ip))
            {
                addresses.AddRange(InterfaceAddresses(ip.AddressFamily));
            }
            else
            {
                addresses.Add(ip);
            }
        }

        return addresses.Distinct().ToList();
    }

    /// <summary>
    /// <paramref name="configured"/> endpoints (<c>aux-server</c>) with each wildcard IP replaced by the interface
    /// addresses of its family, keeping the port. No duplicates, in order.
    /// </summary>
    public static IReadOnlyList<IPEndPoint> ResolveEndPoints(IReadOnlyList<IPEndPoint> configured) =>
        [.. configured.SelectMany(e => Resolve([e.Address]).Select(ip => new IPEndPoint(ip, e.Port))).Distinct()];

    /// <summary>
    /// The <c>relay-ip</c> addresses to use: a wildcard there means no choice (relay on the address the client
    /// reached, as with no <c>relay-ip</c>), never a relayed address of <c>0.0.0.0</c>.
    /// </summary>
    public static IReadOnlyList<IPAddress> RelayAddresses(IReadOnlyList<IPAddress> configured) => [.. configured.Where(ip => !IsWildcard(ip))];

    private static bool IsWildcard(IPAddress ip) => ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any);

    private static List<IPAddress> InterfaceAddresses(params AddressFamily[] families)
    {
        var addresses = new List<IPAddress>();
        foreach (NetworkInterface nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown))
            {
                continue;
            }

            foreach (UnicastIPAddressInformation unicast in nic.GetIPProperties().UnicastAddresses)
            {
                IPAddress ip = unicast.Address;

                // Link-local IPv6 needs a scope per interface and is useless to TURN clients.
                if (families.Contains(ip.AddressFamily) && !ip.IsIPv6LinkLocal)
                {
                    addresses.Add(ip);
                }
            }
        }

        return addresses.Distinct().ToList();
    }
}
