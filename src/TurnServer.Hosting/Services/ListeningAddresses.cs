using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace TurnServer.Hosting.Services;

/// <summary>
/// The IPs to listen on. coTURN listens on each interface address separately rather than on a wildcard, so every
/// reply leaves from the address the client sent to; with no <c>listening-ip</c> this does the same.
/// </summary>
internal static class ListeningAddresses
{
    public static IReadOnlyList<IPAddress> Resolve(IReadOnlyList<IPAddress> configured)
    {
        if (configured.Count > 0)
        {
            return configured;
        }

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
                if (ip.AddressFamily == AddressFamily.InterNetwork || (ip.AddressFamily == AddressFamily.InterNetworkV6 && !ip.IsIPv6LinkLocal))
                {
                    addresses.Add(ip);
                }
            }
        }

        return addresses.Distinct().ToList();
    }
}
