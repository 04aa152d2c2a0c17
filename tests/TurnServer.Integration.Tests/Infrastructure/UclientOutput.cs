using System.Globalization;
using System.Text.RegularExpressions;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>What turnutils_uclient reports at the end of a run, checked the same way by every interop test.</summary>
internal static partial class UclientOutput
{
    /// <summary>
    /// Asserts uclient lost nothing and sent and received exactly <paramref name="expected"/> messages (its final
    /// "tot_send_msgs=N, tot_recv_msgs=N" line); the whole output is the failure message when either line is missing.
    /// </summary>
    public static void AssertNoLoss(ToolResult result, int expected)
    {
        Match lost = LostPackets().Match(result.Output);
        Match totals = FinalTotals().Match(result.Output);
        Assert.True(lost.Success && totals.Success, result.Output);
        Assert.Equal("0", lost.Groups[1].Value);
        Assert.Equal(expected, int.Parse(totals.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(expected, int.Parse(totals.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"Total lost packets (\d+)")]
    private static partial Regex LostPackets();

    [GeneratedRegex(@"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)")]
    private static partial Regex FinalTotals();
}
