using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Udp;
using TurnServer.Hosting.Udp.Linux;

namespace TurnServer.Hosting.Tests.Infrastructure;

/// <summary>Engines built from settings as the host builds them, relaying on loopback, with no listeners.</summary>
internal static class TestEngines
{
    public static TurnEngine For(TurnServerSettings settings) => new(
        TurnOptionsFactory.CreateOptions(settings),
        new UdpRelayEndpointFactory([], [IPAddress.Loopback], new ServerCounters(), NullLogger.Instance, new DescriptorBudget(long.MaxValue, NullLogger.Instance)),
        [],
        null,
        TimeProvider.System,
        settings.MinPort,
        settings.MaxPort);

    /// <summary>
    /// An engine with <paramref name="options"/>, relaying from ports <paramref name="minPort"/>..<paramref name="maxPort"/>
    /// on <paramref name="relayIps"/> through real sockets: the Linux engine's when <paramref name="linux"/> is given, else .NET's.
    /// </summary>
    public static TurnEngine Open(TurnOptions options, IPAddress[] relayIps, DescriptorBudget descriptors, int minPort, int maxPort, LinuxUdpEngine? linux = null) => new(
        options,
        new UdpRelayEndpointFactory([], relayIps, new ServerCounters(), NullLogger.Instance, descriptors, linux),
        [],
        null,
        TimeProvider.System,
        minPort,
        maxPort);
}
