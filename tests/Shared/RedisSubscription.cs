using System.Diagnostics;

namespace TurnServer.Tests.Shared;

/// <summary>
/// A running <c>redis-cli psubscribe</c>: it prints the confirmation (<c>psubscribe</c>, the pattern, the count) and
/// then four lines per message (<c>pmessage</c>, the pattern, the channel, the message). Disposing ends it by its PID.
/// </summary>
public sealed class RedisSubscription : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly List<(string Channel, string Message)> _messages = [];
    private readonly TaskCompletionSource _confirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(Func<IReadOnlyList<(string Channel, string Message)>, bool> Done, TaskCompletionSource Seen)> _waiters = [];

    private RedisSubscription(Process process) => _process = process;

    /// <summary>Every message so far, in the order Redis delivered them.</summary>
    public IReadOnlyList<(string Channel, string Message)> Messages
    {
        get
        {
            lock (_lines)
            {
                return [.. _messages];
            }
        }
    }

    internal static async Task<RedisSubscription> StartAsync(ProcessStartInfo start)
    {
        var subscription = new RedisSubscription(Process.Start(start)!);
        subscription._process.OutputDataReceived += (_, e) => subscription.Add(e.Data);
        subscription._process.ErrorDataReceived += (_, _) => { };
        subscription._process.BeginOutputReadLine();
        subscription._process.BeginErrorReadLine();
        try
        {
            await subscription._confirmed.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return subscription;
        }
        catch
        {
            subscription.Dispose();
            throw;
        }
    }

    /// <summary>The messages once <paramref name="done"/> holds for them; fails after <paramref name="timeout"/> with what arrived.</summary>
    public async Task<IReadOnlyList<(string Channel, string Message)>> WaitForAsync(Func<IReadOnlyList<(string Channel, string Message)>, bool> done, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lines)
        {
            if (done(_messages))
            {
                return [.. _messages];
            }

            _waiters.Add((done, seen));
        }

        try
        {
            await seen.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail("redis-cli psubscribe did not see what was expected; it saw:\n" + string.Join("\n", Messages.Select(m => m.Channel + " " + m.Message)));
        }

        return Messages;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            _confirmed.TrySetException(new InvalidOperationException("redis-cli psubscribe exited: " + string.Join("\n", _lines)));
            return;
        }

        lock (_lines)
        {
            _lines.Add(line);
            if (_lines.Count == 3 && _lines[0] == "psubscribe")
            {
                _confirmed.TrySetResult();
            }
            else if (_lines.Count > 3 && (_lines.Count - 3) % 4 == 0 && _lines[^4] == "pmessage")
            {
                _messages.Add((_lines[^2], _lines[^1]));
                foreach ((Func<IReadOnlyList<(string Channel, string Message)>, bool> done, TaskCompletionSource seen) in _waiters)
                {
                    if (done(_messages))
                    {
                        seen.TrySetResult();
                    }
                }
            }
        }
    }
}
