using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Lifecycle;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Tests.Configuration;
using TurnServer.Hosting.Tests.Infrastructure;

namespace TurnServer.Hosting.Tests.Lifecycle;

/// <summary>What SIGHUP tells systemd around a reload.</summary>
public sealed class SignalServiceTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-signal-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// Regression: a reload that threw (here an exception a reload does not expect, standing for a bug) left systemd after RELOADING=1
    /// without the READY=1 that ends the reload, so the unit stayed "reloading" until systemd's timeout.
    /// </summary>
    [Fact]
    public void A_reload_that_throws_still_tells_systemd_the_server_is_ready_again()
    {
        string path = Path.Combine(_directory, "notify.sock");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(path));
        TurnServerSettings settings = TestLoader.Settings("realm=example.org\nlt-cred-mech\nuser=alice:secret\n");
        Core.TurnEngine engine = TestEngines.For(settings);
        var configurator = new EngineConfigurator(engine, settings, null, TimeProvider.System);
        var reloader = new ConfigurationReloader(() => throw new InvalidOperationException("a bug"), configurator, null, NullLogger.Instance);
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        using var drain = new DrainService(engine, lifetime, 0, 0, TimeProvider.System, NullLogger.Instance);
        using var service = new SignalService(reloader, drain, new LogFiles(), new SystemdNotifier(path), lifetime, NullLogger.Instance);

        Assert.Throws<InvalidOperationException>(service.Reload);

        // Both datagrams were sent before Reload returned, so they wait in the socket now.
        var received = new List<string>();
        var buffer = new byte[512];
        while (systemd.Available > 0)
        {
            received.Add(Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer)));
        }

        Assert.Equal(2, received.Count);
        Assert.StartsWith("RELOADING=1\n", received[0], StringComparison.Ordinal);
        Assert.StartsWith("READY=1\n", received[1], StringComparison.Ordinal);
    }
}
