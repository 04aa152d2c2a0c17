namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>This project's turnadmin (turnadmin.dll, built beside the tests), run as its own process, as scripts run it.</summary>
internal static class Turnadmin
{
    /// <summary>Runs it with <paramref name="args"/>; the result has its exit code and its output (stdout and stderr).</summary>
    public static Task<ToolResult> RunAsync(params string[] args) =>
        ExternalProcess.RunAsync(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", [Path.Combine(AppContext.BaseDirectory, "turnadmin.dll"), .. args], TimeSpan.FromSeconds(60));
}
