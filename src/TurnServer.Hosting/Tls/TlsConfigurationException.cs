namespace TurnServer.Hosting.Tls;

/// <summary>The certificate, key or TLS settings cannot be used; the message names the file or option and why.</summary>
public sealed class TlsConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TlsConfigurationException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception without a message (serialization and analyzers).</summary>
    public TlsConfigurationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TlsConfigurationException(string message)
        : base(message)
    {
    }
}
