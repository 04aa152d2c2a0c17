using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Net;

namespace TurnServer.Hosting.Services;

/// <summary>
/// A listener of the daemon served by Kestrel from the shared framework (HTTP for metrics, raw TCP for the CLI), in a
/// web application of its own that starts and stops with the daemon's host.
/// </summary>
internal abstract class KestrelService : IHostedService, IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private WebApplication? _app;

    /// <summary>Kestrel logs through <paramref name="loggerFactory"/>, the daemon's.</summary>
    protected KestrelService(ILoggerFactory loggerFactory) => _loggerFactory = loggerFactory;

    private readonly AddressShares _perAddress = new();

    /// <summary>Connections kept open at once (64 unless a listener says otherwise); more are closed as soon as they are accepted.</summary>
    public virtual int ConnectionLimit => 64;

    /// <summary>
    /// Connections one client address may keep open at once: a quarter of <see cref="ConnectionLimit"/>, so that one
    /// host cannot hold them all and keep scrapers, probes or operators out. More are closed as soon as they are accepted.
    /// </summary>
    public int ConnectionLimitPerAddress => (int)AddressShares.QuarterOf(ConnectionLimit);

    /// <summary>The bound port, once started (useful with port 0).</summary>
    public int Port { get; private set; }

    /// <summary>The bound address as Kestrel states it (<c>http://127.0.0.1:9641</c>), once started.</summary>
    protected string BoundAddress { get; private set; } = string.Empty;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Scrapers, probes and operators need a handful; the rest are closed on accept, so these listeners cannot
            // take the descriptors the relay's clients and the runtime need (see DescriptorBudget).
            kestrel.Limits.MaxConcurrentConnections = ConnectionLimit;
            kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => connection => LimitPerAddressAsync(next, connection)));
            Listen(kestrel);
        });
        WebApplication app = builder.Build();
        Configure(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;

        BoundAddress = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? string.Empty;
        Port = Uri.TryCreate(BoundAddress.Replace("[::]", "[::1]", StringComparison.Ordinal), UriKind.Absolute, out Uri? uri) ? uri.Port : 0;
        OnStarted();
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public virtual async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task LimitPerAddressAsync(ConnectionDelegate next, ConnectionContext connection)
    {
        if (connection.RemoteEndPoint is not IPEndPoint { Address: { } address })
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        if (!_perAddress.TryTake(address, ConnectionLimitPerAddress))
        {
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _perAddress.Return(address);
        }
    }

    /// <summary>Adds the listening endpoint(s) with their connection handling.</summary>
    protected abstract void Listen(KestrelServerOptions kestrel);

    /// <summary>Adds request handling to an HTTP service; connection-level services need none.</summary>
    protected virtual void Configure(WebApplication app)
    {
    }

    /// <summary>Called once listening, with <see cref="Port"/> and <see cref="BoundAddress"/> known (to log them).</summary>
    protected abstract void OnStarted();
}
