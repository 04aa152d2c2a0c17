using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Udp;

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
}
