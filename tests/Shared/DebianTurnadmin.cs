using System.Diagnostics;
using System.Text.RegularExpressions;

namespace TurnServer.Tests.Shared;

/// <summary>
/// Debian's coTURN turnadmin (/usr/bin/turnadmin, from the coturn package .ci/run installs). It also logs to a file
/// named turn_&lt;pid&gt;_&lt;date&gt;.log and says so on stdout; that file is ours to delete. Returns stdout without its log lines.
/// </summary>
public static partial class DebianTurnadmin
{
    public const string Path = "/usr/bin/turnadmin";

    public static async Task<string> RunAsync(params string[] args)
    {
        Assert.True(File.Exists(Path), "Debian's coturn package is needed for " + Path);
        var start = new ProcessStartInfo(Path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        string all = await output + await error;
        foreach (Match opened in LogFileOpened().Matches(all))
        {
            File.Delete(opened.Groups[1].Value);
        }

        Assert.DoesNotContain("ERROR", all, StringComparison.Ordinal);
        return string.Join('\n', (await output).Split('\n').Where(l => !LogLine().IsMatch(l) && l.Length > 0));
    }

    [GeneratedRegex(@"log file opened: (\S+)")]
    private static partial Regex LogFileOpened();

    /// <summary>coTURN's log lines start with the seconds since the tool started: "0: : ...", or "1: : ..." on a slow start.</summary>
    [GeneratedRegex(@"^\d+: ")]
    private static partial Regex LogLine();
}
