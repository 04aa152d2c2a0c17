using System.Net;
using System.Net.Sockets;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>A turnserver.conf in a temporary file, deleted on dispose.</summary>
internal sealed class TempConfFile : IDisposable
{
    public TempConfFile(string text)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "turnserver-test-" + Guid.NewGuid().ToString("N") + ".conf");
        File.WriteAllText(Path, text);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}

/// <summary>
/// Loads with an empty environment, no default config file search, a fixed domain name, no host name lookup but of
/// localhost (from /etc/hosts) and no search for key files named relatively, so tests never read /etc or wait on DNS.
/// </summary>
internal static class TestLoader
{
    public static TurnServerConfigLoadResult Load(
        string[] args,
        Dictionary<string, string?>? environment = null,
        string? domainName = null,
        Func<string, IPAddress[]>? resolveHost = null,
        Func<string, string?>? findFile = null) =>
        TurnServerConfigLoader.Load(args, environment ?? [], () => [], () => domainName, resolveHost ?? LocalhostOnly, findFile ?? (_ => null));

    /// <summary>The system's addresses for localhost; every other name is unknown.</summary>
    public static IPAddress[] LocalhostOnly(string host) =>
        host == "localhost" ? Dns.GetHostAddresses(host) : throw new SocketException((int)SocketError.HostNotFound);

    /// <summary>Loads <paramref name="confText"/> through <c>-c</c>, then <paramref name="args"/>.</summary>
    public static TurnServerConfigLoadResult LoadConf(string confText, params string[] args) => LoadConf(confText, null, args);

    public static TurnServerConfigLoadResult LoadConf(string confText, Dictionary<string, string?>? environment, params string[] args)
    {
        using var file = new TempConfFile(confText);
        return Load(["-c", file.Path, .. args], environment);
    }

    /// <summary>Loads and asserts there were no errors, returning the settings.</summary>
    public static TurnServerSettings Settings(string confText, params string[] args)
    {
        TurnServerConfigLoadResult result = LoadConf(confText, args);
        Assert.Empty(result.Errors);
        return result.Settings!;
    }

    /// <summary>Loads and returns the single error, with the temporary file's path replaced by "turnserver.conf".</summary>
    public static string SingleError(string confText, params string[] args)
    {
        using var file = new TempConfFile(confText);
        TurnServerConfigLoadResult result = Load(["-c", file.Path, .. args]);
        Assert.Null(result.Settings);
        return Assert.Single(result.Errors).Replace(file.Path, "turnserver.conf", StringComparison.Ordinal);
    }
}
