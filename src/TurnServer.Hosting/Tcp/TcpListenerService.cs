using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Tls;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// A TCP or TLS listening socket (a <c>listening-ip</c> with <c>listening-port</c> or <c>tls-listening-port</c>)
/// and its connections. TLS handshakes must finish within <see cref="HandshakeTimeout"/>; a connection that has not
/// made an allocation within <c>max-allocate-timeout</c> (60 s by default, as in coTURN) is closed, and
/// TCP keepalive finds half-open connections. Stopping closes the listener and every connection.
/// </summary>
internal sealed partial class TcpListenerService : BackgroundService
{
    /// <summary>Longest a TLS handshake may take.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly TurnEngine _engine;
    private readonly TlsCertificateProvider? _tls;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _allocationTimeout;
    private readonly ConcurrentDictionary<StreamClientConnection, Task> _connections = new();

    public TcpListenerService(IPEndPoint endPoint, TurnEngine engine, TlsCertificateProvider? tls, TimeSpan allocationTimeout, ILogger logger, TimeProvider time)
    {
        _allocationTimeout = allocationTimeout;
        EndPoint = endPoint;
        _engine = engine;
        _tls = tls;
        _logger = logger;
        _time = time;
        _listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _listener.DualMode = false;
        }

        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
    }

    public IPEndPoint EndPoint { get; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public TransportProtocol Protocol => _tls is null ? TransportProtocol.Tcp : TransportProtocol.Tls;

    /// <summary>Open connections.</summary>
    public int ConnectionCount => _connections.Count;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.Bind(EndPoint);
        _listener.Listen(1024);
        LogListening(_logger, _tls is null ? "TCP" : "TLS", LocalEndPoint.ToString());
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _listener.Dispose();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (StreamClientConnection connection in _connections.Keys)
        {
            connection.Close();
        }

        await Task.WhenAll(_connections.Values).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(AcceptLoopAsync(stoppingToken), CloseIdleLoopAsync(stoppingToken));

    private async Task AcceptLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.TooManyOpenSockets)
            {
                continue;
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException)
            {
                return;
            }

            _ = ServeAsync(socket, stoppingToken);
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken stoppingToken)
    {
        StreamClientConnection? connection = null;
        try
        {
            socket.NoDelay = true;
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 60);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            var fiveTuple = new FiveTuple(
                TransportAddress.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!),
                TransportAddress.FromEndPoint((IPEndPoint)socket.LocalEndPoint!),
                Protocol);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (_tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                handshake.CancelAfter(HandshakeTimeout);
                await ssl.AuthenticateAsServerAsync(_tls.CreateServerOptions(), handshake.Token).ConfigureAwait(false);
            }

            connection = new StreamClientConnection(socket, stream, fiveTuple, _engine, _logger, _time);
            Task run = connection.RunAsync();
            _connections[connection] = run;
            await run.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            LogHandshakeFailed(_logger, socket.RemoteEndPoint?.ToString() ?? "?", e.Message);
            socket.Dispose();
        }
        finally
        {
            if (connection is not null)
            {
                _connections.TryRemove(connection, out _);
            }
        }
    }

    /// <summary>Closes connections that made no allocation in time; one pass a second, no timer per connection.</summary>
    private async Task CloseIdleLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        long limit = (long)(_allocationTimeout.TotalSeconds * _time.TimestampFrequency);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                long now = _time.GetTimestamp();
                foreach (StreamClientConnection connection in _connections.Keys)
                {
                    if (now - connection.ConnectedAt > limit && !connection.HasAllocation && !connection.IsDataConnection)
                    {
                        connection.Close();
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Transport} {EndPoint}")]
    private static partial void LogListening(ILogger logger, string transport, string endPoint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection from {Remote} ended before it was set up: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string remote, string reason);
}
