using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tcp;
using TurnServer.Hosting.Udp;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// The server in-process on loopback with OS-chosen ports, configured through the same coTURN command-line parser
/// the daemon uses. Disposing stops it as SIGTERM would.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const string Realm = "example.org";
    public const string User = "alice";
    public const string Password = "secret";
    public const string RestSecret = "north-secret";

    private int _stopped;

    private TestServer(IHost host, AllocationEvents events)
    {
        Host = host;
        Events = events;
        Engine = host.Services.GetRequiredService<TurnEngine>();
        Descriptors = host.Services.GetRequiredService<DescriptorBudget>();
        List<IHostedService> services = [.. host.Services.GetServices<IHostedService>()];
        List<UdpListener> udp = [.. services.OfType<UdpListener>()];
        UdpEndPoints = [.. udp.Where(l => l.Protocol == TransportProtocol.Udp).Select(l => l.LocalEndPoint)];
        TcpEndPoints = [.. services.OfType<TcpListenerService>().Where(l => l.Protocol == TransportProtocol.Tcp && !l.BehindProxy).Select(l => l.LocalEndPoint)];
        ProxyEndPoints = [.. services.OfType<TcpListenerService>().Where(l => l.BehindProxy).Select(l => l.LocalEndPoint)];
        TlsEndPoints = [.. services.OfType<TcpListenerService>().Where(l => l.Protocol == TransportProtocol.Tls).Select(l => l.LocalEndPoint)];
        DtlsEndPoints = [.. udp.Where(l => l.Protocol == TransportProtocol.Dtls && l.Dtls is not null).Select(l => l.LocalEndPoint)];
        Dtls = [.. udp.Where(l => l.Protocol == TransportProtocol.Dtls).Select(l => l.Dtls).OfType<DtlsEndpoint>()];
        ListeningPortDtls = udp.FirstOrDefault(l => l.Protocol == TransportProtocol.Udp)?.Dtls;
    }

    public IHost Host { get; }

    public TurnEngine Engine { get; }

    public AllocationEvents Events { get; }

    /// <summary>The descriptors client connections and relay sockets hold: a leak shows here.</summary>
    internal DescriptorBudget Descriptors { get; }

    public IReadOnlyList<IPEndPoint> UdpEndPoints { get; }

    public IReadOnlyList<IPEndPoint> TcpEndPoints { get; }

    public IReadOnlyList<IPEndPoint> TlsEndPoints { get; }

    /// <summary>The listener on the first of <see cref="TcpEndPoints"/>.</summary>
    internal TcpListenerService TcpListener => Host.Services.GetServices<IHostedService>().OfType<TcpListenerService>().Single(l => l.LocalEndPoint.Equals(TcpEndPoints[0]));

    /// <summary>
    /// Makes <see cref="TcpListener"/> take each connection only once its first bytes are in (TCP_DEFER_ACCEPT), so
    /// that the server's first reads of it complete at once, never waiting for the client.
    /// </summary>
    public void AcceptOnlyOnceBytesArrive()
    {
        const int IpProtoTcp = 6, TcpDeferAccept = 9;
        TcpListener.ListeningSocket.SetRawSocketOption(IpProtoTcp, TcpDeferAccept, BitConverter.GetBytes(30));
    }

    /// <summary>The <c>tcp-proxy-port</c> listeners, which take connections behind a PROXY protocol header.</summary>
    public IReadOnlyList<IPEndPoint> ProxyEndPoints { get; }

    /// <summary>The DTLS endpoints on <c>tls-listening-port</c>, one per listening IP.</summary>
    internal IReadOnlyList<DtlsEndpoint> Dtls { get; }

    /// <summary>The DTLS endpoint on the first <c>listening-port</c> listener, if it serves DTLS.</summary>
    internal DtlsEndpoint? ListeningPortDtls { get; }

    /// <summary>Where DTLS is served on <c>tls-listening-port</c>.</summary>
    public IReadOnlyList<IPEndPoint> DtlsEndPoints { get; }

    public IPEndPoint UdpEndPoint => UdpEndPoints[0];

    public int Port => UdpEndPoint.Port;

    /// <summary>The Prometheus listener's base address, when started with --prometheus.</summary>
    public Uri MetricsBase => new("http://127.0.0.1:" + Host.Services.GetRequiredService<Hosting.Metrics.MetricsHttpServer>().Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Starts a server with long-term credentials for alice and loopback peers allowed, plus <paramref name="extra"/> flags.</summary>
    public static Task<TestServer> StartAsync(params string[] extra) => StartAsync(extra, configureServices: null);

    /// <summary>As <see cref="StartAsync(string[])"/>, with extra or replaced services.</summary>
    /// <param name="linuxUdp">The UDP engine: the Linux one, the portable one, or (null) what the server would pick.</param>
    /// <remarks>
    /// Relay ports come from 20000-32767, below Linux's ephemeral range (32768-60999), so the sockets of test clients
    /// and turnutils tools never hold a port a test server wants to relay on.
    /// </remarks>
    public static Task<TestServer> StartAsync(string[] extra, Action<IServiceCollection>? configureServices, bool? linuxUdp = null) =>
        StartRawAsync(["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--tls-listening-port=0", "--min-port=20000", "--max-port=32767", "--realm=" + Realm, "--lt-cred-mech", "--user=" + User + ":" + Password, "--allow-loopback-peers", "--no-stdout-log", .. extra], configureServices, linuxUdp);

    /// <summary>
    /// Starts a server without authentication, so that a client's first frame can allocate, observed by
    /// <paramref name="observer"/> (a <see cref="HeldAllocation"/>, say).
    /// </summary>
    public static Task<TestServer> StartWithoutAuthAsync(IAllocationObserver observer) =>
        StartRawAsync(["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--tls-listening-port=0", "--min-port=20000", "--max-port=32767", "--no-auth", "--no-stdout-log"], s => s.AddSingleton(observer));

    /// <summary>Starts a server with exactly these coTURN-style arguments.</summary>
    public static Task<TestServer> StartRawAsync(params string[] args) => StartRawAsync(args, configureServices: null);

    /// <summary>Starts a server with these coTURN-style arguments and extra or replaced services (e.g. <see cref="DtlsLimits"/>).</summary>
    /// <param name="linuxUdp">The UDP engine: the Linux one, the portable one, or (null) what the server would pick.</param>
    public static async Task<TestServer> StartRawAsync(string[] args, Action<IServiceCollection>? configureServices, bool? linuxUdp = null)
    {
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(args, new Dictionary<string, string?>(), () => []);
        Assert.True(config.Settings is not null, string.Join("\n", config.Errors));
        var events = new AllocationEvents();
        IHost host = TurnServerHostFactory.Create(config.Settings, linuxUdp ?? UdpEngineSelection.UseLinuxEngine, configureServices: s =>
        {
            s.AddSingleton<IAllocationObserver>(events);
            configureServices?.Invoke(s);
        });
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose(); // closes what the services started before the failure had bound
            throw;
        }

        return new TestServer(host, events);
    }

    /// <summary>
    /// Stops the server, with <paramref name="cancellationToken"/> cutting the host's shutdown short, and disposes it.
    /// Only the first call (this or <see cref="DisposeAsync"/>) does anything, so a test that stops the server itself
    /// can still hold it with <c>await using</c>.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            await Host.StopAsync(cancellationToken);
        }
        finally
        {
            Host.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
