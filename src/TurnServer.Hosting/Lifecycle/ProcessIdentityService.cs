using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// Gives up root for <c>proc-user</c>/<c>proc-group</c> once every listener before it has bound its port, as coTURN
/// does after initialisation. Registered after the listeners and before systemd hears READY=1. Relay ports
/// (min-port..max-port) need no privilege, so allocations keep working after the change.
/// </summary>
internal sealed partial class ProcessIdentityService : IHostedService
{
    private readonly uint? _userId;
    private readonly uint? _groupId;
    private readonly ILogger _logger;

    /// <summary>
    /// Switches to <paramref name="userId"/> and <paramref name="groupId"/> (<c>proc-user</c>, <c>proc-group</c>) at start; null
    /// leaves either unchanged.
    /// </summary>
    public ProcessIdentityService(uint? userId, uint? groupId, ILogger logger)
    {
        _userId = userId;
        _groupId = groupId;
        _logger = logger;
    }

    /// <exception cref="ProcessCredentialsException">The change was refused; start-up fails.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ProcessCredentials.Become(_userId, _groupId);
        LogRunningAs(_logger, _userId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unchanged", _groupId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unchanged");
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "listeners bound; now running as user {UserId}, group {GroupId} (proc-user, proc-group)")]
    private static partial void LogRunningAs(ILogger logger, string userId, string groupId);
}
