using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core;

/// <summary>
/// Receives a STUN request the engine has handled (<see cref="TurnEngine.RequestTrace"/>), on the receiving thread.
/// Must not throw or keep the spans.
/// </summary>
/// <param name="request">The request as parsed.</param>
/// <param name="fiveTuple">Where it came from and arrived.</param>
/// <param name="response">The answer sent (a STUN message), or empty when none was (dropped, or not to be answered).</param>
public delegate void StunRequestTrace(in StunMessageReader request, in FiveTuple fiveTuple, ReadOnlySpan<byte> response);
