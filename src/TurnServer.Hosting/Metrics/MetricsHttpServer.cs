using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;

namespace TurnServer.Hosting.Metrics;

/// <summary>
/// coTURN's <c>prometheus</c> listener, on Kestrel: <c>GET /metrics</c> (or <c>prometheus-path</c>) answers the Prometheus
/// text format; <c>GET /</c> answers <c>ok</c> as coTURN's does; <c>GET /healthz</c> answers <c>ok</c>, or 503
/// <c>draining</c> once SIGUSR1 started a drain, so load balancers and readiness probes stop sending new clients.
/// Other paths are 404, other methods 405. Listens on <c>prometheus-address</c> (every address when not given) and
/// <c>prometheus-port</c>.
/// </summary>
internal sealed partial class MetricsHttpServer : IHostedService, IAsyncDisposable
{
    private readonly IPAddress? _address;
    private readonly int _port;
    private readonly string _path;
    private readonly PrometheusExporter _exporter;
    private readonly TurnEngine _engine;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private WebApplication? _app;

    /// <summary>
    /// Serves <paramref name="exporter"/>'s scrape at <paramref name="path"/> on <paramref name="address"/> (null: every address) and
    /// <paramref name="port"/>; <paramref name="engine"/> tells <c>/healthz</c> whether a drain has started.
    /// </summary>
    public MetricsHttpServer(IPAddress? address, int port, string path, PrometheusExporter exporter, TurnEngine engine, ILoggerFactory loggerFactory)
    {
        _address = address;
        _port = port;
        _path = path;
        _exporter = exporter;
        _engine = engine;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("TurnServer.Prometheus");
    }

    /// <summary>The bound port, once started (useful with port 0).</summary>
    public int Port { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (_address is null)
            {
                kestrel.ListenAnyIP(_port);
            }
            else
            {
                kestrel.Listen(_address, _port);
            }
        });
        WebApplication app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;

        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? string.Empty;
        Port = Uri.TryCreate(bound.Replace("[::]", "[::1]", StringComparison.Ordinal), UriKind.Absolute, out Uri? uri) ? uri.Port : _port;
        LogListening(_logger, bound, _path);
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
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Task HandleAsync(HttpContext context)
    {
        HttpResponse response = context.Response;
        if (!HttpMethods.IsGet(context.Request.Method))
        {
            return Text(response, StatusCodes.Status405MethodNotAllowed, "method not allowed");
        }

        string path = context.Request.Path.Value ?? "/";
        if (path == _path)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = PrometheusTextWriter.ContentType;
            return response.WriteAsync(_exporter.Scrape());
        }

        return path switch
        {
            "/" => Text(response, StatusCodes.Status200OK, "ok"),
            "/healthz" when _engine.IsDraining => Text(response, StatusCodes.Status503ServiceUnavailable, "draining"),
            "/healthz" => Text(response, StatusCodes.Status200OK, "ok"),
            _ => Text(response, StatusCodes.Status404NotFound, "not found"),
        };
    }

    private static Task Text(HttpResponse response, int status, string body)
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync(body + "\n");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "prometheus exporter listening on {Address}, metrics at {Path}")]
    private static partial void LogListening(ILogger logger, string address, string path);
}
