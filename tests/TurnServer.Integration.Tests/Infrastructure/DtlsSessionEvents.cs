using System.Threading.Channels;
using TurnServer.Hosting.Dtls;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>Lets a test await DTLS session ends (after the session has released its slots) instead of polling.</summary>
internal sealed class DtlsSessionEvents : IDisposable
{
    private readonly DtlsEndpoint _listener;
    private readonly Channel<DtlsSessionEnd> _ended = Channel.CreateUnbounded<DtlsSessionEnd>();

    public DtlsSessionEvents(DtlsEndpoint listener)
    {
        _listener = listener;
        _listener.SessionEnded += OnEnded;
    }

    /// <summary>The next session end, in order, within <paramref name="timeout"/>.</summary>
    public async Task<DtlsSessionEnd> NextAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await _ended.Reader.ReadAsync(cts.Token);
    }

    public void Dispose() => _listener.SessionEnded -= OnEnded;

    private void OnEnded(DtlsSessionEnd end) => _ended.Writer.TryWrite(end);
}
