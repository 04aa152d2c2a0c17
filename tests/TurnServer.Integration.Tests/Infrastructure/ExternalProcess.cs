using System.Diagnostics;
using System.Text;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>The exit code and merged output of a finished tool.</summary>
internal sealed record ToolResult(int ExitCode, string Output);

/// <summary>Runs programs the tests use as clients and peers; a long-running one is ended by its PID on dispose.</summary>
internal sealed class ExternalProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ExternalProcess(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        string path = Locate(file);
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (KeyValuePair<string, string> pair in environment ?? new Dictionary<string, string>())
        {
            start.Environment[pair.Key] = pair.Value;
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public event Action<string>? LineReceived;

    public static ExternalProcess Start(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null) => new(file, args, environment);

    /// <summary>Runs a tool to completion; a tool still running after <paramref name="timeout"/> is killed and the test fails.</summary>
    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        using ExternalProcess process = Start(file, args);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{file} did not finish in {timeout.TotalSeconds} s. Output:\n{process.Output}");
        }

        process._process.WaitForExit(); // flush the asynchronous output readers
        return new ToolResult(process._process.ExitCode, process.Output);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await WaitForExitAsync(cts.Token);
    }

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true); // a browser's or a wrapper's children too: nothing the test started outlives it
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static string Locate(string file)
    {
        if (Path.IsPathRooted(file))
        {
            return file;
        }

        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            string candidate = Path.Combine(directory, file);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{file} is not installed; .ci/run installs Debian's coturn package for it.");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        LineReceived?.Invoke(line);
    }
}
