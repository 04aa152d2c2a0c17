using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Hosting.Services;

namespace TurnServer.Hosting.Metrics;

/// <summary>
/// coTURN's <c>prometheus</c> listener, on Kestrel: <c>GET /metrics</c> (or <c>prometheus-path</c>) answers the Prometheus
/// text format; <c>GET /</c> answers <c>ok</c> as coTURN's does; <c>GET /healthz</c> answers <c>ok</c>, or 503
/// <c>draining</c> once SIGUSR1 started a drain, so load balancers and readiness probes stop sending new clients.
/// Other paths are 404, other methods 405. Listens on <c>prometheus-address</c> (every address when not given) and
/// <c>prometheus-port</c>.
/// </summary>
internal sealed partial class MetricsHttpServer : KestrelService
{
    private readonly IPAddress? _address;
    private readonly int _port;
    private readonly string _path;
    private readonly PrometheusExporter _exporter;
    private readonly TurnEngine _engine;
    private readonly ILogger _logger;

    /// <summary>
    /// Serves <paramref name="exporter"/>'s scrape at <paramref name="path"/> on <paramref name="address"/> (null: every address) and
    /// <paramref name="port"/>; <paramref name="engine"/> tells <c>/healthz</c> whether a drain has started.
    /// </summary>
    public MetricsHttpServer(IPAddress? address, int port, string path, PrometheusExporter exporter, TurnEngine engine, ILoggerFactory loggerFactory)
        : base(loggerFactory)
    {
        _address = address;
        _port = port;
        _path = path;
        _exporter = exporter;
        _engine = engine;
        _logger = loggerFactory.CreateLogger("TurnServer.Prometheus");
    }

    /// <inheritdoc />
    protected override void Listen(KestrelServerOptions kestrel)
    {
        if (_address is null)
        {
            kestrel.ListenAnyIP(_port);
        }
        else
        {
            kestrel.Listen(_address, _port);
        }
    }

    /// <inheritdoc />
    protected override void Configure(WebApplication app) => app.Run(HandleAsync);

    /// <inheritdoc />
    protected override void OnStarted() => LogListening(_logger, BoundAddress, _path);

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
