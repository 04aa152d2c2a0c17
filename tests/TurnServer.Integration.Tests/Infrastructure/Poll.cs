using System.Diagnostics;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// Waits for a condition that no event announces (a counter, a descriptor count), checking every 20 ms until a
/// deadline; bounded in time and in checks.
/// </summary>
internal static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Completes once <paramref name="condition"/> holds; fails the test naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what);

    /// <summary>As <see cref="UntilAsync(Func{bool}, TimeSpan, string)"/>, for a condition that must be fetched (a scrape).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var elapsed = Stopwatch.StartNew();
        long checks = (long)(timeout / Interval) + 1;
        for (long i = 0; i < checks && elapsed.Elapsed < timeout; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(Interval);
        }

        Assert.True(await condition(), what + " within " + timeout);
    }

    /// <summary>
    /// Completes once <paramref name="value"/> is over <paramref name="atLeast"/> and has moved by no more than
    /// <paramref name="tolerance"/> for <paramref name="steadyFor"/>: for a backlog that only stops growing when every
    /// buffer on its way is full. The tolerance absorbs a value made of two counters read one after the other.
    /// </summary>
    public static Task UntilSteadyAsync(Func<long> value, long atLeast, TimeSpan steadyFor, TimeSpan timeout, string what, long tolerance = 0)
    {
        var steady = Stopwatch.StartNew();
        long last = value();
        return UntilAsync(
            () =>
            {
                long now = value();
                if (Math.Abs(now - last) > tolerance)
                {
                    last = now;
                    steady.Restart();
                }

                return now > atLeast && steady.Elapsed >= steadyFor;
            },
            timeout,
            what);
    }
}
