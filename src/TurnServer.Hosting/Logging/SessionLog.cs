using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// Logs each allocation's start and end the way coTURN does: the 5-tuple, user, realm, relayed address, lifetime and,
/// at the end, packets and bytes each way. Never logs keys, passwords or nonces.
/// </summary>
internal sealed partial class SessionLog : IAllocationObserver
{
    private readonly ILogger _logger;
    private readonly string _realm;

    public SessionLog(ILogger<SessionLog> logger, string realm)
    {
        _logger = logger;
        _realm = realm;
    }

    public void OnCreated(Allocation allocation) =>
        LogCreated(_logger, allocation.FiveTuple.ToString(), allocation.Username ?? "-", _realm, allocation.RelayedTransportAddress.ToString());

    public void OnEnded(Allocation allocation, AllocationEndReason reason) =>
        LogEnded(
            _logger,
            allocation.FiveTuple.ToString(),
            allocation.Username ?? "-",
            _realm,
            (long)(DateTimeOffset.UtcNow - allocation.CreatedAt).TotalSeconds,
            reason,
            allocation.ClientPacketsReceived,
            allocation.ClientBytesReceived,
            allocation.ClientPacketsSent,
            allocation.ClientBytesSent,
            allocation.PeerPacketsReceived,
            allocation.PeerBytesReceived,
            allocation.PeerPacketsSent,
            allocation.PeerBytesSent);

    [LoggerMessage(Level = LogLevel.Information, Message = "session created: {FiveTuple}, username={Username}, realm={Realm}, relayed={Relayed}")]
    private static partial void LogCreated(ILogger logger, string fiveTuple, string username, string realm, string relayed);

    [LoggerMessage(Level = LogLevel.Information, Message = "session closed: {FiveTuple}, username={Username}, realm={Realm}, lifetime={LifetimeSeconds}s, reason={Reason}, rp={ClientPacketsReceived}, rb={ClientBytesReceived}, sp={ClientPacketsSent}, sb={ClientBytesSent}, peer rp={PeerPacketsReceived}, peer rb={PeerBytesReceived}, peer sp={PeerPacketsSent}, peer sb={PeerBytesSent}")]
    private static partial void LogEnded(
        ILogger logger,
        string fiveTuple,
        string username,
        string realm,
        long lifetimeSeconds,
        AllocationEndReason reason,
        long clientPacketsReceived,
        long clientBytesReceived,
        long clientPacketsSent,
        long clientBytesSent,
        long peerPacketsReceived,
        long peerBytesReceived,
        long peerPacketsSent,
        long peerBytesSent);
}
