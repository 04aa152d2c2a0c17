using System.Net.Sockets;

namespace TurnServer.Hosting.Net;

/// <summary>
/// The TCP keepalive of every connection the server keeps open for long, client connections and RFC 6062 peer
/// connections alike: after <see cref="IdleSeconds"/> without traffic the kernel probes every
/// <see cref="IntervalSeconds"/>, and <see cref="Probes"/> unanswered probes close the connection, so one whose other end
/// vanished without a word (a power cut, a NAT that forgot it) gives its descriptor back within two minutes.
/// </summary>
internal static class TcpKeepAlive
{
    /// <summary>Seconds without traffic before the first probe.</summary>
    public const int IdleSeconds = 60;

    /// <summary>Seconds between probes.</summary>
    public const int IntervalSeconds = 10;

    /// <summary>Unanswered probes that close the connection.</summary>
    public const int Probes = 3;

    /// <summary>Turns keepalive on for <paramref name="socket"/> with these settings.</summary>
    /// <exception cref="SocketException">The socket refused an option (it was reset already, say).</exception>
    public static void Apply(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, IdleSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, IntervalSeconds);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Probes);
    }
}
