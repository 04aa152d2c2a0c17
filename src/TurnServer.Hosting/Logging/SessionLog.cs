using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Metrics;
using TurnServer.Stun;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// Logs each allocation's start and end in coTURN's words, so scripts that read coTURN's log keep working:
/// <c>session 000000000000000001: new, realm=&lt;r&gt;, username=&lt;u&gt;, lifetime=600</c> at the start,
/// <c>session ...: refreshed, realm=&lt;r&gt;, username=&lt;u&gt;, lifetime=600</c> on each Refresh (with <c>verbose</c>, as
/// in coTURN), and at the end
/// <c>session ...: usage: realm=&lt;r&gt;, username=&lt;u&gt;, rp=, rb=, sp=, sb=</c> (client side),
/// <c>session ...: peer usage: ...</c> (relay side) and
/// <c>session ...: closed (2nd stage), user &lt;u&gt; realm &lt;r&gt; origin &lt;o&gt;, local &lt;server&gt;, remote &lt;client&gt;, reason: &lt;why&gt;</c>
/// (coTURN's shutdown_client_connection), followed by how long it lived and its transport. Never logs keys, passwords or
/// nonces.
/// </summary>
internal sealed partial class SessionLog : IAllocationObserver
{
    private readonly ILogger _logger;
    private readonly string _realm;

    /// <summary>Logs sessions of <paramref name="realm"/>; durations come from each allocation's own clock.</summary>
    public SessionLog(ILogger logger, string realm)
    {
        _logger = logger;
        _realm = realm;
    }

    /// <inheritdoc />
    public void OnCreated(Allocation allocation)
    {
        LogCreated(
            _logger,
            allocation.SessionId,
            _realm,
            allocation.Username ?? string.Empty,
            allocation.SecondsToExpiry,
            allocation.FiveTuple.ToString(),
            allocation.RelayedTransportAddress.ToString());
    }

    /// <inheritdoc />
    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        long session = allocation.SessionId;
        string user = allocation.Username ?? string.Empty;
        TrafficTotals traffic = TrafficTotals.Of(allocation);
        LogUsage(_logger, session, _realm, user, traffic.ClientPacketsReceived, traffic.ClientBytesReceived, traffic.ClientPacketsSent, traffic.ClientBytesSent);
        LogPeerUsage(_logger, session, _realm, user, traffic.PeerPacketsReceived, traffic.PeerBytesReceived, traffic.PeerPacketsSent, traffic.PeerBytesSent);
        FiveTuple fiveTuple = allocation.FiveTuple;
        LogClosed(
            _logger,
            session,
            user,
            _realm,
            allocation.Origin ?? string.Empty,
            fiveTuple.ServerAddress.ToString(),
            fiveTuple.ClientAddress.ToString(),
            ReasonText(reason, fiveTuple.Protocol),
            (long)allocation.Age.TotalSeconds,
            TurnMetrics.TypeLabel(fiveTuple.Protocol));
    }

    /// <summary>
    /// coTURN's words for why a session ended, where it has them: <c>allocation timeout</c> (also for a Refresh with
    /// lifetime 0, which in coTURN leaves the allocation a second to time out), <c>TCP connection closed by client
    /// (callback)</c> (<c>TLS/TCP</c> ..., and <c>DTLS</c> ... here), <c>Forceful shutdown</c> (the CLI's <c>cs</c>); a
    /// stop, for which coTURN has no words, is <c>server shutdown</c>.
    /// </summary>
    internal static string ReasonText(AllocationEndReason reason, TransportProtocol protocol) => reason switch
    {
        AllocationEndReason.Expired or AllocationEndReason.Deleted => "allocation timeout",
        AllocationEndReason.ConnectionClosed => TurnMetrics.TypeLabel(protocol) + " connection closed by client (callback)",
        AllocationEndReason.Cancelled => "Forceful shutdown",
        _ => "server shutdown",
    };

    /// <inheritdoc />
    public void OnRefreshed(Allocation allocation, uint lifetime) =>
        LogRefreshed(_logger, allocation.SessionId, _realm, allocation.Username ?? string.Empty, lifetime);

    /// <inheritdoc />
    public void OnMoved(Allocation allocation, in FiveTuple from) =>
        LogMoved(_logger, allocation.SessionId, allocation.Username ?? string.Empty, _realm, from.ToString(), allocation.FiveTuple.ToString());

    /// <inheritdoc />
    public void OnRelayDeleted(Allocation allocation, TransportAddress relayed, AllocationEndReason reason) =>
        LogRelayDeleted(_logger, allocation.SessionId, allocation.Username ?? string.Empty, _realm, relayed.ToString(), ReasonText(reason, allocation.FiveTuple.Protocol), allocation.SecondsToExpiry);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: relay {Relayed} deleted, user <{Username}> realm <{Realm}>, reason: {Reason}; the other family's relay remains, lifetime={Lifetime}")]
    private static partial void LogRelayDeleted(ILogger logger, long session, string username, string realm, string relayed, string reason, long lifetime);

    [LoggerMessage(Level = LogLevel.Debug, Message = "session {Session:D18}: refreshed, realm=<{Realm}>, username=<{Username}>, lifetime={Lifetime}")]
    private static partial void LogRefreshed(ILogger logger, long session, string realm, string username, uint lifetime);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: moved (mobility), user <{Username}> realm <{Realm}>, from {From} to {FiveTuple}")]
    private static partial void LogMoved(ILogger logger, long session, string username, string realm, string from, string fiveTuple);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: new, realm=<{Realm}>, username=<{Username}>, lifetime={Lifetime}, {FiveTuple}, relayed {Relayed}")]
    private static partial void LogCreated(ILogger logger, long session, string realm, string username, long lifetime, string fiveTuple, string relayed);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: usage: realm=<{Realm}>, username=<{Username}>, rp={ReceivedPackets}, rb={ReceivedBytes}, sp={SentPackets}, sb={SentBytes}")]
    private static partial void LogUsage(ILogger logger, long session, string realm, string username, long receivedPackets, long receivedBytes, long sentPackets, long sentBytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: peer usage: realm=<{Realm}>, username=<{Username}>, rp={ReceivedPackets}, rb={ReceivedBytes}, sp={SentPackets}, sb={SentBytes}")]
    private static partial void LogPeerUsage(ILogger logger, long session, string realm, string username, long receivedPackets, long receivedBytes, long sentPackets, long sentBytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "session {Session:D18}: closed (2nd stage), user <{Username}> realm <{Realm}> origin <{Origin}>, local {Local}, remote {Remote}, reason: {Reason}, lifetime={LifetimeSeconds}s, type={Type}")]
    private static partial void LogClosed(ILogger logger, long session, string username, string realm, string origin, string local, string remote, string reason, long lifetimeSeconds, string type);
}
