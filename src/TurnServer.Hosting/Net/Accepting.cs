using System.Net.Sockets;

namespace TurnServer.Hosting.Net;

/// <summary>The accept rule every TCP accept loop follows: client listeners and RFC 6062 relayed addresses alike.</summary>
internal static class Accepting
{
    /// <summary>
    /// Accepts the next connection on <paramref name="listener"/>. A connection reset or aborted before it was taken
    /// is skipped. Any other error while the listener is open is the system's or one connection's (EMFILE leaves the
    /// connection queued; accept(2) asks callers to retry network errors such as ENETDOWN, EPROTO or EHOSTUNREACH; a
    /// firewall may give EPERM): it goes to <paramref name="failed"/> and accept is tried again after
    /// <see cref="ResourceExhaustion.AcceptRetryDelay"/>, so a lasting error cannot spin a core. Returns null once
    /// <paramref name="stopping"/> fires or the listener is closed; never throws.
    /// </summary>
    public static async Task<Socket?> NextAsync(Socket listener, Action<SocketException> failed, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                return await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                // the client gave up while queued: take the next
            }
            catch (SocketException e) when (e.SocketErrorCode != SocketError.OperationAborted && !stopping.IsCancellationRequested)
            {
                failed(e);
                try
                {
                    await Task.Delay(ResourceExhaustion.AcceptRetryDelay, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException)
            {
                return null; // the listener was closed
            }
        }

        return null;
    }
}
