using Microsoft.Extensions.DependencyInjection;
using System.Reflection;
using Microsoft.Extensions.Hosting;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Lifecycle;

TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(args);
if (config.HelpRequested)
{
    TurnServerHelp.Write(Console.Out);
    return 0;
}

if (config.VersionRequested)
{
    Console.Out.WriteLine(Assembly.GetExecutingAssembly().GetName().Version?.ToString(3));
    return 0;
}

// The background copy of a daemon reads the same configuration: its parent has already shown the warnings.
if (!DaemonMode.IsChild)
{
    foreach (string warning in config.Warnings)
    {
        Console.Error.WriteLine("WARNING: " + warning);
    }
}

if (config.Settings is null)
{
    foreach (string error in config.Errors)
    {
        Console.Error.WriteLine("ERROR: " + error);
    }

    return ExitCodes.Configuration;
}

if (config.Settings.Daemon && !DaemonMode.IsChild)
{
    return await DaemonMode.StartInBackgroundAsync(args).ConfigureAwait(false);
}

if (DaemonMode.IsChild)
{
    DaemonMode.BeginSession();
}

// Until the process ends: signals the host would handle must not kill it before the host starts or after it is gone.
using var ignoredSignals = new IgnoredSignals();

try
{
    // SIGHUP re-reads the configuration exactly as it was read now: same file, environment and command line.
    using IHost host = TurnServerHostFactory.Create(config.Settings, reloadConfiguration: () => TurnServerConfigLoader.Load(args));
    // Taken before RunAsync, which disposes the host (and its services) when it returns.
    TurnServer.Hosting.Lifecycle.ServerFailure failure = host.Services.GetRequiredService<TurnServer.Hosting.Lifecycle.ServerFailure>();
    await host.RunAsync().ConfigureAwait(false);
    return failure.ExitCode;
}
catch (TurnServer.Hosting.Tls.TlsConfigurationException e)
{
    Console.Error.WriteLine("ERROR: " + e.Message);
    return ExitCodes.Configuration;
}
catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or TurnServer.Hosting.Lifecycle.ProcessCredentialsException)
{
    Console.Error.WriteLine("ERROR: cannot start: " + e.Message);
    return ExitCodes.CannotStart;
}
