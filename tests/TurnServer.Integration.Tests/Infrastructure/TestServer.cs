using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Core;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Udp;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// The server in-process on 127.0.0.1 with an OS-chosen port, configured through the same coTURN command-line
/// parser the daemon uses. Disposing stops it as SIGTERM would.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const string Realm = "example.org";
    public const string User = "alice";
    public const string Password = "secret";
    public const string RestSecret = "north-secret";

    private TestServer(IHost host)
    {
        Host = host;
        Engine = host.Services.GetRequiredService<TurnEngine>();
        UdpListener listener = host.Services.GetServices<IHostedService>().OfType<UdpListener>().Single();
        UdpEndPoint = listener.LocalEndPoint;
    }

    public IHost Host { get; }

    public TurnEngine Engine { get; }

    public IPEndPoint UdpEndPoint { get; }

    public int Port => UdpEndPoint.Port;

    /// <summary>The Prometheus listener's base address, when started with --prometheus.</summary>
    public Uri MetricsBase => new("http://127.0.0.1:" + Host.Services.GetRequiredService<Hosting.Metrics.MetricsHttpServer>().Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Starts a server with long-term credentials for alice and loopback peers allowed, plus <paramref name="extra"/> flags.</summary>
    public static Task<TestServer> StartAsync(params string[] extra) =>
        StartRawAsync(["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + Realm, "--lt-cred-mech", "--user=" + User + ":" + Password, "--allow-loopback-peers", "--no-stdout-log", .. extra]);

    /// <summary>Starts a server with exactly these coTURN-style arguments.</summary>
    public static async Task<TestServer> StartRawAsync(params string[] args)
    {
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(args, new Dictionary<string, string?>(), () => []);
        Assert.True(config.Settings is not null, string.Join("\n", config.Errors));
        IHost host = TurnServerHostFactory.Create(config.Settings);
        await host.StartAsync();
        return new TestServer(host);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
    }
}
