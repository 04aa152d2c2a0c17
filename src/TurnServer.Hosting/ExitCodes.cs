namespace TurnServer.Hosting;

/// <summary>Process exit codes, from sysexits.h so that systemd and scripts can tell failures apart.</summary>
public static class ExitCodes
{
    /// <summary>EX_CONFIG (78): the configuration is invalid; the messages name the option, value and line.</summary>
    public const int Configuration = 78;

    /// <summary>EX_UNAVAILABLE (69): a port could not be bound or a file could not be opened at start.</summary>
    public const int CannotStart = 69;

    /// <summary>EX_SOFTWARE (70): a part of the running server failed beyond repair and it stopped (see <see cref="Lifecycle.ServerFailure"/>).</summary>
    public const int Software = 70;
}
