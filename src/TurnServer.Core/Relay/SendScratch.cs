using System.Net;
using System.Net.Sockets;

namespace TurnServer.Core.Relay;

/// <summary>
/// Per receive loop scratch space: one <see cref="SocketAddress"/> per family, rewritten for each Send indication
/// so the relay path never allocates an address. Not thread-safe: each loop owns one.
/// </summary>
public sealed class SendScratch
{
    private readonly SocketAddress _v4 = new(AddressFamily.InterNetwork);
    private readonly SocketAddress _v6 = new(AddressFamily.InterNetworkV6);

    /// <summary>The scratch address for sockets of <paramref name="family"/>.</summary>
    public SocketAddress For(AddressFamily family) => family == AddressFamily.InterNetwork ? _v4 : _v6;
}
