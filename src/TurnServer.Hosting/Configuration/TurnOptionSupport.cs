namespace TurnServer.Hosting.Configuration;

/// <summary>How far TurnServer implements a coTURN option.</summary>
public enum TurnOptionSupport
{
    /// <summary>The option is honoured as coTURN documents it.</summary>
    Supported,

    /// <summary>The option is accepted so that coTURN configurations load, with a warning naming it; it has no effect yet.</summary>
    NotYetImplemented,
}
