using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tls;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// A TCP or TLS listening socket (a <c>listening-ip</c> with <c>listening-port</c> or <c>tls-listening-port</c>)
/// and its connections. As in coTURN, either port takes both plain TCP and TLS when both are enabled, told apart by
/// the connection's first byte. TLS handshakes (and that first byte) must arrive within <see cref="HandshakeTimeout"/>;
/// a connection that has not made an allocation within <c>max-allocate-timeout</c> (60 s by default, as in coTURN) is
/// closed, and TCP keepalive finds half-open connections. Stopping closes the listener and every connection.
/// </summary>
internal sealed partial class TcpListenerService : BackgroundService
{
    /// <summary>Longest a connection may take to send its first byte and finish any TLS handshake, on the server's clock.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The content type of a TLS handshake record (RFC 8446 section 5.1), a ClientHello's first byte.</summary>
    private const byte TlsHandshakeRecord = 0x16;

    private readonly Socket _listener;
    private readonly TurnEngine _engine;
    private readonly TlsCertificateProvider? _tls;
    private readonly bool _plain;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DescriptorBudget _descriptors;
    private readonly ConnectionSetupCounters _setups;
    private readonly TimeSpan _allocationTimeout;
    private readonly bool _proxyProtocol;
    private readonly HttpOnTurnPort _http;
    private readonly string? _device;
    private readonly ConcurrentDictionary<StreamClientConnection, Task> _connections = new();
    private readonly ConcurrentDictionary<FiveTuple, byte> _proxiedFiveTuples = new();
    private long _acceptFailures;
    private string _boundAt = "";

    /// <summary>Creates the listener; <see cref="StartAsync"/> binds it.</summary>
    /// <param name="endPoint">Where to listen.</param>
    /// <param name="protocol">The port's role: <see cref="TransportProtocol.Tcp"/> for <c>listening-port</c>, <see cref="TransportProtocol.Tls"/> for <c>tls-listening-port</c>.</param>
    /// <param name="plain">Whether plain TCP connections are taken (false with <c>no-tcp</c>).</param>
    /// <param name="tls">The certificate for TLS connections; null when TLS is off.</param>
    /// <param name="engine">The protocol engine.</param>
    /// <param name="allocationTimeout">How long a connection may stay without an allocation.</param>
    /// <param name="logger">Where connection failures are logged.</param>
    /// <param name="time">The clock.</param>
    /// <param name="descriptors">The budget each accepted connection takes a descriptor from; none left, it is closed at once.</param>
    /// <param name="setups">Where TLS handshakes and connections that end before they are set up are counted.</param>
    /// <param name="proxyProtocol">
    /// Whether each connection starts with a PROXY protocol version 2 header from a load balancer (<c>tcp-proxy-port</c>),
    /// naming the client, who is then held to its share of <paramref name="descriptors"/>; it must arrive with the
    /// first byte, within <see cref="HandshakeTimeout"/>.
    /// </param>
    /// <param name="http">What HTTP requests get (<c>acme-redirect</c>, <c>respond-http-unsupported</c>); by default none, and the connection is closed.</param>
    /// <param name="device">The network interface the listener is tied to (<c>listening-device</c>), or null.</param>
    public TcpListenerService(IPEndPoint endPoint, TransportProtocol protocol, bool plain, TlsCertificateProvider? tls, TurnEngine engine, TimeSpan allocationTimeout, ILogger logger, TimeProvider time, DescriptorBudget descriptors, ConnectionSetupCounters setups, bool proxyProtocol = false, HttpOnTurnPort? http = null, string? device = null)
    {
        _descriptors = descriptors ?? throw new ArgumentNullException(nameof(descriptors));
        _setups = setups ?? throw new ArgumentNullException(nameof(setups));
        if (!plain && tls is null)
        {
            throw new ArgumentException("a listener must take plain TCP, TLS or both", nameof(plain));
        }

        _allocationTimeout = allocationTimeout;
        _proxyProtocol = proxyProtocol;
        _http = http ?? new HttpOnTurnPort(acmeRedirect: null, respondUnsupported: false);
        EndPoint = endPoint;
        Protocol = protocol;
        _plain = plain;
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
        _device = device;
    }

    /// <summary>The configured address; after start, <see cref="LocalEndPoint"/> has the bound port.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The bound address and port (useful when configured with port 0); valid after <see cref="StartAsync"/>.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Whether connections start with a PROXY protocol header naming the client (<c>tcp-proxy-port</c>).</summary>
    public bool BehindProxy => _proxyProtocol;

    /// <summary>The port's role (which of coTURN's ports it is); each connection may still be either.</summary>
    public TransportProtocol Protocol { get; }

    /// <summary>Accepts that failed with an error other than a connection reset before it was taken, since start.</summary>
    public long AcceptFailures => Interlocked.Read(ref _acceptFailures);

    /// <summary>The listening socket (tests fail its accepts with shutdown(2)).</summary>
    internal Socket ListeningSocket => _listener;

    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        NetworkDevice.Apply(_listener, _device);
        _listener.Bind(EndPoint);
        _listener.Listen(1024);
        _boundAt = LocalEndPoint.ToString(); // for logs once the socket may be closed
        string transports = (_plain, _tls is not null) switch { (true, true) => "TCP and TLS", (true, false) => "TCP", _ => "TLS" };
        LogListening(_logger, _proxyProtocol ? transports + " behind a PROXY protocol load balancer" : transports, _boundAt);
        return base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// Closes the listener and every connection, and waits for them until <paramref name="cancellationToken"/> (the
    /// host's shutdown timeout) fires; then resets what is left and returns. Never throws, so a slow client cannot turn
    /// a stop into a crash.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _listener.Dispose();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (StreamClientConnection connection in _connections.Keys)
        {
            connection.Close();
        }

        Task closed = Task.WhenAll(_connections.Values);
        await closed.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!closed.IsCompleted)
        {
            int left = 0;
            foreach ((StreamClientConnection connection, Task run) in _connections)
            {
                if (!run.IsCompleted)
                {
                    connection.Reset();
                    left++;
                }
            }

            LogStopAbandoned(_logger, _boundAt, left);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(AcceptLoopAsync(stoppingToken), CloseIdleLoopAsync(stoppingToken));

    private async Task AcceptLoopAsync(CancellationToken stoppingToken)
    {
        long failing = 0;
        Action<SocketException> failed = e =>
        {
            Interlocked.Increment(ref _acceptFailures);
            if (failing++ == 0)
            {
                if (ResourceExhaustion.Is(e))
                {
                    LogAcceptExhausted(_logger, _boundAt, e.Message);
                }
                else
                {
                    LogAcceptFailing(_logger, _boundAt, e.SocketErrorCode, e.Message);
                }
            }
        };
        while (await Accepting.NextAsync(_listener, failed, stoppingToken).ConfigureAwait(false) is { } socket)
        {
            if (failing > 0)
            {
                LogAcceptRecovered(_logger, _boundAt, failing);
                failing = 0;
            }

            // Each address may hold a share of the budget. Behind tcp-proxy-port the connection's own address holds it
            // only until a header names the client, who takes it over: a balancer sends its header at once, while a
            // host reaching the port directly is held to one share however many headers it sends or withholds.
            IPAddress? from = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (from is null ? !_descriptors.TryTake() : !_descriptors.TryTakeConnection(from))
            {
                socket.Dispose(); // closed at once: the client hears so, rather than waiting in the queue
                continue;
            }

            _ = ServeAsync(socket, from, stoppingToken);
        }
    }

    private async Task ServeAsync(Socket socket, IPAddress? from, CancellationToken stoppingToken)
    {
        // Off the accept loop before anything else: reads of bytes already in complete at once, so the loop itself
        // would otherwise handle a client's frames, and accept no one else while a flood lasts.
        await Task.Yield();
        StreamClientConnection? connection = null;
        Stream? stream = null;
        IPAddress? share = from;
        FiveTuple? proxiedFiveTuple = null;
        bool balancerCheck = false;
        bool handshaking = false;
        try
        {
            socket.NoDelay = true;
            TcpKeepAlive.Apply(socket);
            // One deadline, on the server's clock, for the first byte and the TLS handshake together.
            using var setupTimeout = new CancellationTokenSource(HandshakeTimeout, _time);
            using var setup = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, setupTimeout.Token);
            // Behind a load balancer the client is the one its PROXY header names; the server address stays the local
            // one, since relays are bound on the address the client reached.
            TransportAddress client = TransportAddress.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!);
            TransportAddress? named = _proxyProtocol ? await ProxyProtocol.ReadAsync(socket, setup.Token).ConfigureAwait(false) : null;
            balancerCheck = _proxyProtocol && named is null;
            if (named is { } proxied)
            {
                client = proxied;
                IPAddress address = proxied.ToIPAddress();
                if (!_descriptors.TryTakeShare(address))
                {
                    LogShareRefused(_logger, proxied.ToString());
                    socket.Dispose();
                    return;
                }

                if (share is not null)
                {
                    _descriptors.ReturnShare(share);
                }

                share = address;
            }

            bool secure = _tls is not null && (!_plain || await StartsWithTlsRecordAsync(socket, setup.Token).ConfigureAwait(false));
            var fiveTuple = new FiveTuple(client, TransportAddress.FromEndPoint((IPEndPoint)socket.LocalEndPoint!), secure ? TransportProtocol.Tls : TransportProtocol.Tcp);
            if (named is not null)
            {
                // TCP keeps 5-tuples unique; a header can name one in use, whose allocation would then relay this
                // connection's ChannelData and Send indications, which carry no credentials.
                if (!_proxiedFiveTuples.TryAdd(fiveTuple, 0))
                {
                    throw new InvalidDataException($"PROXY protocol header names {client}, connected already");
                }

                proxiedFiveTuple = fiveTuple;
            }

            stream = new NetworkStream(socket, ownsSocket: false);
            if (secure)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                _setups.HandshakeStarted();
                handshaking = true;
                await ssl.AuthenticateAsServerAsync(_tls!.CreateServerOptions(), setup.Token).ConfigureAwait(false);
                _setups.HandshakeCompleted();
            }

            connection = new StreamClientConnection(socket, stream, fiveTuple, _engine, _logger, _time, _http);
            Task run = connection.RunAsync();
            _connections[connection] = run;
            if (stoppingToken.IsCancellationRequested)
            {
                connection.Close(); // set up while stopping: the stop closed only the connections registered before it
            }

            await run.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or SocketException or ObjectDisposedException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            // A balancer's health check (a LOCAL header, then maybe a TLS handshake) hangs up as it means to.
            if (connection is null && !stoppingToken.IsCancellationRequested && !(balancerCheck && e is IOException or SocketException))
            {
                _setups.Count(e switch
                {
                    OperationCanceledException => ConnectionSetupFailure.Timeout,
                    InvalidDataException => ConnectionSetupFailure.ProxyHeader,
                    System.Security.Authentication.AuthenticationException => ConnectionSetupFailure.TlsHandshake,
                    // SslStream reports a peer that hung up mid-handshake as IOException, and so it is counted
                    // as closed; TLS bytes it cannot parse come as AuthenticationException.
                    _ => ConnectionSetupFailure.Closed,
                });
            }

            LogHandshakeFailed(_logger, socket.RemoteEndPoint?.ToString() ?? "?", handshaking && connection is null ? "TLS handshake: " + e.Message : e.Message);
            DisposeUnserved(connection, stream);
            socket.Dispose();
        }
        catch (Exception e)
        {
            if (handshaking && connection is null)
            {
                _setups.Count(ConnectionSetupFailure.TlsHandshake); // the server's own TLS options failed (a certificate reload gone wrong)
            }

            // Nobody awaits this task: a bug must cost this connection, logged, never go unobserved with the socket open.
            LogServeFailed(_logger, e, socket.RemoteEndPoint?.ToString() ?? "?");
            DisposeUnserved(connection, stream);
            socket.Dispose();
        }
        finally
        {
            if (connection is not null)
            {
                _connections.TryRemove(connection, out _);
            }

            if (proxiedFiveTuple is { } claimed)
            {
                _proxiedFiveTuples.TryRemove(claimed, out _);
            }

            if (share is null)
            {
                _descriptors.Return();
            }
            else
            {
                _descriptors.ReturnConnection(share);
            }
        }
    }

    /// <summary>
    /// Frees the stream of a connection that failed before it was served (a failed TLS handshake leaves an SslStream
    /// holding native TLS state until the finalizer otherwise); a served connection disposes its own.
    /// </summary>
    private static void DisposeUnserved(StreamClientConnection? connection, Stream? stream)
    {
        if (connection is null)
        {
            stream?.Dispose();
        }
    }

    /// <summary>
    /// Waits (until <paramref name="setup"/> is cancelled) for the connection's first byte without consuming it: a TLS
    /// handshake record starts with 0x16, which no STUN message (first byte 0x00-0x3F for the methods in use) or
    /// ChannelData message (0x40-0x7F) does (RFC 7983 section 7). The client always speaks first in TURN.
    /// </summary>
    /// <exception cref="IOException">The connection closed before sending anything.</exception>
    /// <exception cref="OperationCanceledException">Nothing arrived in time, or the listener is stopping.</exception>
    private static async Task<bool> StartsWithTlsRecordAsync(Socket socket, CancellationToken setup)
    {
        byte[] first = new byte[1];
        int peeked = await socket.ReceiveAsync(first, SocketFlags.Peek, setup).ConfigureAwait(false);
        return peeked == 1 ? first[0] == TlsHandshakeRecord : throw new IOException("closed before its first byte");
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Serving the connection from {Remote} failed")]
    private static partial void LogServeFailed(ILogger logger, Exception exception, string remote);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting connections on {EndPoint} failed: {Reason}; retrying every 100 ms (raise the descriptor limit: LimitNOFILE, ulimit -n)")]
    private static partial void LogAcceptExhausted(ILogger logger, string endPoint, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting connections on {EndPoint} failed: {Error} ({Reason}); retrying every 100 ms")]
    private static partial void LogAcceptFailing(ILogger logger, string endPoint, SocketError error, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Accepting connections on {EndPoint} again, after {Failures} failed accepts")]
    private static partial void LogAcceptRecovered(ILogger logger, string endPoint, long failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopping {EndPoint}: {Count} connections had not closed when the shutdown timeout ran out; reset them")]
    private static partial void LogStopAbandoned(ILogger logger, string endPoint, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection for {Client}, named by a PROXY header, closed: that address holds its share of the client connections")]
    private static partial void LogShareRefused(ILogger logger, string client);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection from {Remote} ended before it was set up: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string remote, string reason);
}
