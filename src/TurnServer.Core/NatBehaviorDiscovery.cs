using System.Collections.Concurrent;
using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core;

/// <summary>
/// RFC 5780 NAT behaviour discovery over UDP: the server listens on two or more IP addresses of a family, each on a
/// primary port and an alternate port, so that a Binding response can name the address a client should try next
/// (OTHER-ADDRESS, section 7.4), say where it was sent from (RESPONSE-ORIGIN, section 7.3), and be sent from another
/// IP address or port when the request asks for it (CHANGE-REQUEST, section 7.2). An address's alternate IP is the
/// next address of its family in the order given (the last wraps to the first), loopback addresses pairing only with
/// loopback ones (a client that reached the server over a network cannot reach its loopback); its alternate port is
/// the other of the two ports.
/// </summary>
public sealed class NatBehaviorDiscovery
{
    /// <summary>The CHANGE-REQUEST flag asking for a response from the alternate IP address (RFC 5780 section 7.2).</summary>
    public const uint ChangeIp = 0x04;

    /// <summary>The CHANGE-REQUEST flag asking for a response from the alternate port (RFC 5780 section 7.2).</summary>
    public const uint ChangePort = 0x02;

    private readonly Dictionary<IPAddress, IPAddress> _otherIp = [];
    private readonly IReadOnlyDictionary<IPAddress, IPAddress> _external;
    private readonly ConcurrentDictionary<TransportAddress, IClientConnectionSource> _listeners = new();

    /// <summary>
    /// Discovery on <paramref name="addresses"/> (only those with an alternate of their family count), each listening on
    /// <paramref name="port"/> and <paramref name="alternatePort"/>.
    /// </summary>
    /// <param name="addresses">Listening IP addresses, in configuration order.</param>
    /// <param name="port">The primary port (<c>listening-port</c>), 1-65535.</param>
    /// <param name="alternatePort">The alternate port (<c>alt-listening-port</c>), 1-65535, not <paramref name="port"/>.</param>
    /// <param name="external">
    /// Private-to-public mappings (<c>external-ip=public/private</c>): addresses written in RESPONSE-ORIGIN and
    /// OTHER-ADDRESS are mapped by these so clients behind the server's NAT see the public ones.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A port is out of range, or the two ports are the same.</exception>
    public NatBehaviorDiscovery(IEnumerable<IPAddress> addresses, int port, int alternatePort, IReadOnlyDictionary<IPAddress, IPAddress>? external = null)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(alternatePort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(alternatePort, 65535);
        ArgumentOutOfRangeException.ThrowIfEqual(alternatePort, port);
        Port = port;
        AlternatePort = alternatePort;
        _external = external ?? new Dictionary<IPAddress, IPAddress>();
        foreach (var family in addresses.Distinct().GroupBy(a => (a.AddressFamily, IPAddress.IsLoopback(a))))
        {
            IPAddress[] members = [.. family];
            for (int i = 0; members.Length > 1 && i < members.Length; i++)
            {
                _otherIp[members[i]] = members[(i + 1) % members.Length];
            }
        }
    }

    /// <summary>The primary port (<c>listening-port</c>).</summary>
    public int Port { get; }

    /// <summary>The alternate port (<c>alt-listening-port</c>).</summary>
    public int AlternatePort { get; }

    /// <summary>The IP addresses that take part, each with an alternate of its family.</summary>
    public IEnumerable<IPAddress> Addresses => _otherIp.Keys;

    /// <summary>
    /// Records the UDP listener bound at <paramref name="local"/>, so responses that CHANGE-REQUEST moves to that
    /// address leave from its socket. Call once each listener is bound.
    /// </summary>
    public void Attach(in TransportAddress local, IClientConnectionSource listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listeners[local] = listener;
    }

    /// <summary>
    /// Whether a Binding request that arrived at <paramref name="local"/> over <paramref name="protocol"/> is served
    /// with RFC 5780: UDP, to one of <see cref="Addresses"/>, on <see cref="Port"/> or <see cref="AlternatePort"/>.
    /// </summary>
    public bool Serves(in TransportAddress local, TransportProtocol protocol) =>
        protocol == TransportProtocol.Udp
        && (local.Port == Port || local.Port == AlternatePort)
        && _otherIp.ContainsKey(local.ToIPAddress());

    /// <summary>
    /// The address the response to a request that arrived at <paramref name="local"/> leaves from, given the
    /// CHANGE-REQUEST <paramref name="flags"/> (<see cref="ChangeIp"/>, <see cref="ChangePort"/>; 0 for none).
    /// <paramref name="local"/> must be one that <see cref="Serves"/>.
    /// </summary>
    public TransportAddress Origin(in TransportAddress local, uint flags)
    {
        IPAddress ip = local.ToIPAddress();
        if ((flags & ChangeIp) != 0)
        {
            ip = _otherIp[ip];
        }

        int port = (flags & ChangePort) != 0 ? OtherPort(local.Port) : local.Port;
        return new TransportAddress(ip, port);
    }

    /// <summary>
    /// OTHER-ADDRESS for a request that arrived at <paramref name="local"/>: the alternate IP address with the other
    /// port (RFC 5780 section 7.4), where a client runs its next mapping test.
    /// </summary>
    public TransportAddress OtherAddress(in TransportAddress local) => Origin(local, ChangeIp | ChangePort);

    /// <summary><paramref name="local"/> as clients see it: mapped by a matching <c>external-ip=public/private</c>.</summary>
    public TransportAddress Advertise(in TransportAddress local) =>
        _external.TryGetValue(local.ToIPAddress(), out IPAddress? mapped) ? new TransportAddress(mapped, local.Port) : local;

    /// <summary>
    /// Sends <paramref name="response"/> to <paramref name="client"/> from the listener at <paramref name="origin"/>;
    /// false when no listener is attached there.
    /// </summary>
    public bool SendFrom(in TransportAddress origin, in TransportAddress client, ReadOnlySpan<byte> response)
    {
        if (!_listeners.TryGetValue(origin, out IClientConnectionSource? listener))
        {
            return false;
        }

        listener.GetConnection(new FiveTuple(client, origin, TransportProtocol.Udp)).Send(response);
        return true;
    }

    private int OtherPort(int port) => port == Port ? AlternatePort : Port;
}
