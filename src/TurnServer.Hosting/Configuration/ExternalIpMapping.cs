using System.Net;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// One <c>external-ip</c> entry: the public address reported to clients in XOR-RELAYED-ADDRESS and, when the server
/// sits behind a 1:1 NAT with several addresses, the private relay address it stands for.
/// </summary>
/// <param name="Public">The address clients and peers see.</param>
/// <param name="Private">The local relay address mapped to <paramref name="Public"/>; null for the single-address form, which applies to every relay address.</param>
public readonly record struct ExternalIpMapping(IPAddress Public, IPAddress? Private)
{
    /// <summary>Formats as coTURN writes it: <c>public</c> or <c>public/private</c>.</summary>
    public override string ToString() => Private is null ? Public.ToString() : Public + "/" + Private;
}
