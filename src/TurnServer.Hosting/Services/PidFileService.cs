using System.Globalization;
using Microsoft.Extensions.Hosting;

namespace TurnServer.Hosting.Services;

/// <summary>Writes the process ID to coTURN's <c>pidfile</c> at start and removes it at stop.</summary>
internal sealed class PidFileService : IHostedService
{
    private readonly string _path;

    public PidFileService(string path) => _path = path;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(_path, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another process may own it now, or proc-user may not write where root wrote it; nothing to undo.
        }

        return Task.CompletedTask;
    }
}
