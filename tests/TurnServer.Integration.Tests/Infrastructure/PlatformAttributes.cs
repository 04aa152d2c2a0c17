using System.Reflection;
using TurnServer.Hosting.Udp.Linux;
using Xunit.Sdk;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// Skip reasons for tests that need what only some platforms have. xunit reads <c>Skip</c> from the attribute
/// instance, so setting it in a constructor makes the run report the test skipped rather than passed.
/// </summary>
internal static class Platform
{
    public static readonly string? NoLinuxUdpEngine = Libc.IsSupported ? null : "the Linux UDP engine exists only on Linux x64 and arm64";

    public static readonly string? NoProcFileSystem = OperatingSystem.IsLinux() ? null : "/proc exists only on Linux";
}

/// <summary>A test of the Linux UDP engine, reported skipped where it does not exist.</summary>
internal sealed class LinuxEngineFactAttribute : FactAttribute
{
    public LinuxEngineFactAttribute() => Skip = Platform.NoLinuxUdpEngine;
}

/// <summary>A test that reads /proc, reported skipped where there is none.</summary>
internal sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute() => Skip = Platform.NoProcFileSystem;
}

/// <summary>A theory's case that runs the Linux UDP engine, as <see cref="InlineDataAttribute"/>; reported skipped where the engine does not exist.</summary>
internal sealed class LinuxEngineInlineDataAttribute : DataAttribute
{
    private readonly object[] _data;

    public LinuxEngineInlineDataAttribute(params object[] data)
    {
        _data = data;
        Skip = Platform.NoLinuxUdpEngine;
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [_data];
}
