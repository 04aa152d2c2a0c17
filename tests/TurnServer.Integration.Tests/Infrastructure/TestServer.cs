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

    /// <summary>Starts a server with long-term credentials for alice and loopback peers allowed, plus <paramref name="extra"/> flags.</summary>
    public static Task<TestServer> StartAsync(params string[] extra) => StartAsync(UdpEngineSelection.UseLinuxEngine, extra);

    /// <summary>As <see cref="StartAsync(string[])"/>, on the chosen UDP engine.</summary>
    public static Task<TestServer> StartAsync(bool linuxUdp, params string[] extra) =>
        StartRawAsync(linuxUdp, ["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + Realm, "--lt-cred-mech", "--user=" + User + ":" + Password, "--allow-loopback-peers", "--no-stdout-log", .. extra]);

    /// <summary>Starts a server with exactly these coTURN-style arguments.</summary>
    public static Task<TestServer> StartRawAsync(params string[] args) => StartRawAsync(UdpEngineSelection.UseLinuxEngine, args);

    /// <summary>Starts a server with these arguments on the Linux UDP engine or the portable one.</summary>
    public static async Task<TestServer> StartRawAsync(bool linuxUdp, params string[] args)
    {
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(args, new Dictionary<string, string?>(), () => []);
        Assert.True(config.Settings is not null, string.Join("\n", config.Errors));
        IHost host = TurnServerHostFactory.Create(config.Settings, null, null, linuxUdp);
        await host.StartAsync();
        return new TestServer(host);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
    }
}
