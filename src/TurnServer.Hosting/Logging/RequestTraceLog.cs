using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// coTURN's <c>Verbose</c> (<c>-V</c>): one line per STUN request, at Trace level, with its 5-tuple, method, user and
/// outcome, e.g. <c>UDP 192.0.2.7:50000 -> 198.51.100.1:3478: Allocate request, user alice: error 401</c>; or, for
/// coTURN's <c>log-binding</c>, the same line for Binding requests alone, at Information level. Installed as
/// <see cref="Core.TurnEngine.RequestTrace"/> only with either option, so other runs pay nothing. Never logs keys,
/// passwords, nonces or message integrity.
/// </summary>
internal sealed partial class RequestTraceLog
{
    private readonly ILogger _logger;
    private readonly bool _bindingOnly;

    /// <summary>
    /// Logs to <paramref name="logger"/> (the host names it TurnServer.Requests): every request at Trace level, or with
    /// <paramref name="bindingOnly"/> Binding requests only, at Information level.
    /// </summary>
    public RequestTraceLog(ILogger logger, bool bindingOnly)
    {
        _logger = logger;
        _bindingOnly = bindingOnly;
    }

    /// <summary>Logs <paramref name="request"/> and what it was answered (a <see cref="Core.StunRequestTrace"/>).</summary>
    public void Log(in StunMessageReader request, in FiveTuple fiveTuple, ReadOnlySpan<byte> response)
    {
        LogLevel level = _bindingOnly ? LogLevel.Information : LogLevel.Trace;
        if ((_bindingOnly && request.Method != StunMethod.Binding) || !_logger.IsEnabled(level))
        {
            return;
        }

        string user = request.TryGetAttribute(StunAttributeType.Username, out ReadOnlySpan<byte> username)
            ? System.Text.Encoding.UTF8.GetString(username)
            : "-";
        LogRequest(_logger, level, fiveTuple.ToString(), request.Method, user, Outcome(response));
    }

    private static string Outcome(ReadOnlySpan<byte> response)
    {
        if (response.IsEmpty)
        {
            return "no answer";
        }

        if (StunMessageReader.TryParse(response, out StunMessageReader answer) != StunParseResult.Success)
        {
            return "answered";
        }

        return answer.TryGetErrorCode(out int code, out _) ? "error " + code.ToString(System.Globalization.CultureInfo.InvariantCulture) : "success";
    }

    [LoggerMessage(Message = "{FiveTuple}: {Method} request, user {User}: {Outcome}")]
    private static partial void LogRequest(ILogger logger, LogLevel level, string fiveTuple, StunMethod method, string user, string outcome);
}
