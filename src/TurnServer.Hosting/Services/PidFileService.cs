using System.Globalization;
using Microsoft.Extensions.Hosting;

namespace TurnServer.Hosting.Services;

/// <summary>
/// Writes the process ID to coTURN's <c>pidfile</c> once the listeners are bound, and removes it when the host stops
/// or, after a failed start (when no stop comes), when the host is disposed. With <c>proc-user</c> it is written as root
/// before the privilege drop, as coTURN writes it, so it is removed only where that user may write to its directory.
/// </summary>
internal sealed class PidFileService : IHostedService, IDisposable
{
    private readonly string _path;
    private bool _written;

    /// <summary>Manages the pidfile at <paramref name="path"/> (<c>pidfile</c>); its directory is created if missing.</summary>
    public PidFileService(string path) => _path = path;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(_path, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        _written = true;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Remove();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose() => Remove();

    private void Remove()
    {
        if (!_written)
        {
            return;
        }

        _written = false;
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another process may own it now, or proc-user may not write where root wrote it; nothing to undo.
        }
    }
}
