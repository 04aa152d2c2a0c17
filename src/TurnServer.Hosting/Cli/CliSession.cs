using System.Globalization;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Metrics;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Cli;

/// <summary>What every CLI connection works on: the engine, the settings, the process.</summary>
/// <param name="Engine">The protocol engine, whose allocations (by session number) the CLI lists and cancels.</param>
/// <param name="Configurator">
/// Holds the settings last applied (at start, then by each SIGHUP), for <c>pc</c> and the password: a
/// <c>cli-password</c> changed in turnserver.conf takes effect with SIGHUP, so a leaked one can be replaced at once.
/// </param>
/// <param name="LogFiles">The log files <c>lr</c> reopens.</param>
/// <param name="Lifetime">What <c>stop</c> stops.</param>
/// <param name="Time">The clock for ages and lifetimes.</param>
/// <param name="Logger">Where logins, failed logins, cancels and stops are logged.</param>
internal sealed record CliContext(
    TurnEngine Engine,
    EngineConfigurator Configurator,
    LogFiles LogFiles,
    IHostApplicationLifetime Lifetime,
    TimeProvider Time,
    ILogger Logger)
{
    /// <summary>The settings last applied.</summary>
    public TurnServerSettings Settings => Configurator.Settings;
}

/// <summary>
/// One connection to coTURN's telnet CLI, as its turn_admin_server answers: the greeting, the password prompt (five
/// tries, then the connection is closed), the <c>&gt; </c> prompt, and the commands operators use: <c>?</c>,
/// <c>quit</c>, <c>stop</c>, <c>pc</c>, <c>ps</c>, <c>psp</c>, <c>psd</c>, <c>pu</c>, <c>cs</c>, <c>lr</c>, <c>sr</c>,
/// <c>ur</c>, <c>so</c>, <c>uo</c>, with coTURN's output lines. Commands that change the configuration at run time
/// (<c>tc</c>, <c>cc</c>, <c>aas</c>, <c>das</c>, <c>atas</c>, <c>dtas</c>) are refused with a reason: here the
/// configuration changes through turnserver.conf and SIGHUP. Output uses <c>\n</c>; the server writes it as CR LF.
/// </summary>
internal sealed partial class CliSession
{
    /// <summary>Wrong passwords a connection may send before it is closed (coTURN's CLI_PASSWORD_TRY_NUMBER).</summary>
    public const int PasswordTries = 5;

    /// <summary>The prompt after each answer.</summary>
    public const string Prompt = "> ";

    /// <summary>The prompt for the password.</summary>
    public const string PasswordPrompt = "Enter password: \n";

    private const string Help = """

          ?, h, help - print this text

          quit, q, exit, bye - end CLI session

          stop, shutdown, halt - shutdown TURN Server

          pc - print configuration

          sr <realm> - set CLI session realm

          ur - unset CLI session realm

          so <origin> - set CLI session origin

          uo - unset CLI session origin

          ps [username] - print sessions, with optional exact user match

          psp <usernamestr> - print sessions, with partial user string match

          psd <file-name> - dump ps command output into file on the TURN server system

          pu [udp|tcp|dtls|tls]- print current users

          lr - log reset

          cs <session-id> - cancel session, forcefully

          tc, cc, aas, das, atas, dtas - not here: change turnserver.conf and send SIGHUP

        """;

    /// <summary>coTURN's greeting: "TURN Server", then the software name and version.</summary>
    private static readonly string GreetingText = "TURN Server\nTurnServer " + typeof(CliSession).Assembly.GetName().Version?.ToString(3) + "\n";

    private readonly CliContext _context;
    private readonly string _peer;
    private readonly Func<bool> _tryPassword;
    private int _commands;
    private string _realm = string.Empty;
    private string _origin = string.Empty;

    /// <summary>
    /// A connection from <paramref name="peer"/> (for the log) working on <paramref name="context"/>;
    /// <paramref name="tryPassword"/> takes one password try from the client address's allowance, false when it is spent.
    /// </summary>
    public CliSession(CliContext context, string peer, Func<bool> tryPassword)
    {
        _context = context;
        _peer = peer;
        _tryPassword = tryPassword;
    }

    /// <summary>True once the password was given (at once when no password is configured).</summary>
    public bool Authenticated { get; private set; }

    /// <summary>True once the connection is to be closed after the last answer is written.</summary>
    public bool Closing { get; private set; }

    /// <summary>What the server writes when the connection opens: the greeting, then the password prompt.</summary>
    public static string Greeting() => GreetingText + "\nType '?' for help\n" + PasswordPrompt;

    /// <summary>
    /// Runs one command line and returns its answer, prompt included. Sets <see cref="Closing"/> for <c>quit</c>,
    /// <c>stop</c> and the last wrong password; <c>stop</c> also asks the host to stop (exit 0).
    /// </summary>
    public string Execute(string line)
    {
        string command = line.Trim();
        if (command.Length == 0)
        {
            return Authenticated ? Prompt : string.Empty;
        }

        _commands++;
        if (!Authenticated)
        {
            return Login(command);
        }

        var output = new StringBuilder();
        if (command is "bye" or "quit" or "exit" or "q")
        {
            Closing = true;
            return "Bye !\n";
        }

        if (command is "halt" or "shutdown" or "stop")
        {
            LogStop(_context.Logger, _peer);
            Closing = true;
            _context.Lifetime.StopApplication();
            return "TURN server is shutting down\n";
        }

        if (command is "?" or "h" or "help")
        {
            output.Append(GreetingText).Append(Help);
        }
        else if (command == "pc")
        {
            PrintConfiguration(output);
        }
        else if (command.StartsWith("sr ", StringComparison.Ordinal))
        {
            _realm = command[3..].Trim();
        }
        else if (command == "ur")
        {
            _realm = string.Empty;
        }
        else if (command.StartsWith("so ", StringComparison.Ordinal))
        {
            _origin = command[3..].Trim();
        }
        else if (command == "uo")
        {
            _origin = string.Empty;
        }
        else if (command.StartsWith("psp", StringComparison.Ordinal))
        {
            PrintSessions(output, Argument(command, 3), exact: false);
        }
        else if (command.StartsWith("psd", StringComparison.Ordinal))
        {
            DumpSessions(output, Argument(command, 3));
        }
        else if (command == "pu" || command.StartsWith("pu ", StringComparison.Ordinal))
        {
            PrintUsers(output, Argument(command, 2));
        }
        else if (command.StartsWith("ps", StringComparison.Ordinal))
        {
            PrintSessions(output, Argument(command, 2), exact: true);
        }
        else if (command.StartsWith("cs ", StringComparison.Ordinal))
        {
            CancelSession(output, command[3..].Trim());
        }
        else if (command.StartsWith("lr", StringComparison.Ordinal))
        {
            _context.LogFiles.Reopen();
            output.Append("  log reset done\n");
        }
        else if (IsRuntimeChange(command))
        {
            output.Append("  Not supported: change turnserver.conf and send SIGHUP (or restart)\n\n");
        }
        else
        {
            output.Append("Unknown command\n\n");
        }

        return output.Append(Prompt).ToString();
    }


    private static bool IsRuntimeChange(string command) =>
        command.StartsWith("tc", StringComparison.Ordinal) || command.StartsWith("cc", StringComparison.Ordinal)
        || command.StartsWith("aas ", StringComparison.Ordinal) || command.StartsWith("das ", StringComparison.Ordinal)
        || command.StartsWith("atas ", StringComparison.Ordinal) || command.StartsWith("dtas ", StringComparison.Ordinal);

    // coTURN skips spaces and one '*' before a user name or protocol.
    private static string Argument(string command, int length) => command[length..].TrimStart(' ').TrimStart('*');

    private static string Flag(bool on) => on ? "ON" : "OFF";

    private string Login(string password)
    {
        if (!_tryPassword())
        {
            LogLoginThrottled(_context.Logger, _peer);
            Closing = true;
            return "Too many passwords from this address: wait a minute.\n";
        }

        if (_context.Settings.CliPassword is { } configured && AdminPassword.Matches(password, configured))
        {
            Authenticated = true;
            LogLogin(_context.Logger, _peer);
            return Prompt;
        }

        LogWrongPassword(_context.Logger, _peer);
        if (_commands >= PasswordTries)
        {
            LogLoginFailed(_context.Logger, _peer);
            Closing = true;
            return string.Empty;
        }

        return PasswordPrompt;
    }

    private void PrintConfiguration(StringBuilder output)
    {
        TurnServerSettings s = _context.Settings;
        void Line(string name, object? value) => output.Append("  ").Append(name).Append(": ").Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append('\n');

        output.Append('\n');
        Line("verbose", Flag(s.Verbose));
        Line("daemon process", Flag(s.Daemon));
        Line("stale-nonce", s.StaleNonce);
        Line("stun-only", Flag(s.StunOnly));
        Line("no-stun", Flag(s.NoStun));
        Line("secure-stun", Flag(s.SecureStun));
        Line("fingerprint", Flag(s.Fingerprint));
        Line("mobility", Flag(s.Mobility));
        Line("no-udp-relay", Flag(s.NoUdpRelay));
        Line("no-tcp-relay", Flag(s.NoTcpRelay));
        Line("no-multicast-peers", Flag(s.NoMulticastPeers));
        Line("allow-loopback-peers", Flag(s.AllowLoopbackPeers));
        Line("cli-max-output-sessions", s.CliMaxOutputSessions);
        output.Append('\n');
        Line("listening-port", s.ListeningPort);
        Line("tls-listening-port", s.TlsListeningPort);
        foreach (var ip in s.ListeningIps.DefaultIfEmpty())
        {
            Line("listener addr", ip?.ToString() ?? "all");
        }

        foreach (var ip in s.RelayIps)
        {
            Line("relay addr", ip);
        }

        foreach (ExternalIpMapping external in s.ExternalIps)
        {
            Line("external-ip", external);
        }

        Line("min-port", s.MinPort);
        Line("max-port", s.MaxPort);
        Line("no-udp", Flag(s.NoUdp));
        Line("no-tcp", Flag(s.NoTcp));
        Line("no-tls", Flag(s.NoTls));
        Line("no-dtls", Flag(s.NoDtls));
        Line("cert", s.Cert);
        Line("pkey", s.PKey);
        Line("CA-file", s.CaFile);
        output.Append('\n');
        Line("Default realm", s.Realm);
        Line("lt-cred-mech", Flag(s.LtCredMech));
        Line("use-auth-secret", Flag(s.UseAuthSecret));
        Line("static-auth-secret", s.StaticAuthSecrets.Count > 0 ? "******" : string.Empty);
        Line("static users", s.Users.Count);
        Line("userdb", s.PsqlUserDb is not null ? "PostgreSQL" : s.RedisUserDb is not null ? "Redis" : s.UserDb ?? string.Empty);
        Line("Redis Statistics DB", s.RedisStatsDb is null ? string.Empty : RedisStatsDatabase.Describe(s.RedisStatsDb));
        Line("no-auth", Flag(s.NoAuth));
        Line("max-allocate-lifetime", s.MaxAllocateLifetime);
        Line("channel-lifetime", s.ChannelLifetime);
        Line("permission-lifetime", s.PermissionLifetime);
        Line("user-quota", s.UserQuota);
        Line("total-quota", s.TotalQuota);
        Line("max-bps", s.MaxBps);
        Line("bps-capacity", s.BpsCapacity);
        foreach (var range in s.DeniedPeerIps)
        {
            Line("denied-peer-ip", range);
        }

        foreach (var range in s.AllowedPeerIps)
        {
            Line("allowed-peer-ip", range);
        }

        foreach (var server in s.AlternateServers)
        {
            Line("alternate-server", server);
        }

        foreach (var server in s.TlsAlternateServers)
        {
            Line("tls-alternate-server", server);
        }

        Line("prometheus", Flag(s.Prometheus));
        output.Append('\n');
    }

    /// <summary>The live allocations that pass the session's realm and origin filters, oldest first, with their session numbers.</summary>
    private List<(long Id, Allocation Allocation)> Listed()
    {
        List<(long Id, Allocation Allocation)> listed = [];
        if (_realm.Length > 0 && !string.Equals(_realm, _context.Settings.Realm, StringComparison.Ordinal))
        {
            return listed; // one realm here: another realm has no sessions
        }

        foreach (Allocation allocation in _context.Engine.Allocations.All)
        {
            if (_origin.Length == 0 || string.Equals(_origin, allocation.Origin, StringComparison.Ordinal))
            {
                listed.Add((allocation.SessionId, allocation));
            }
        }

        listed.Sort((a, b) => a.Id.CompareTo(b.Id));
        return listed;
    }

    private void PrintSessions(StringBuilder output, string user, bool exact, bool all = false)
    {
        int counter = 0;
        int max = _context.Settings.CliMaxOutputSessions;
        long now = _context.Time.GetTimestamp();
        foreach ((long id, Allocation allocation) in Listed())
        {
            string username = allocation.Username ?? string.Empty;
            if (user.Length > 0 && (exact ? !string.Equals(username, user, StringComparison.Ordinal) : !username.Contains(user, StringComparison.Ordinal)))
            {
                continue;
            }

            if (all || counter < max)
            {
                PrintSession(output, counter + 1, id, allocation, now);
            }

            counter++;
        }

        output.Append('\n');
        bool cut = !all && counter > max;
        if (cut)
        {
            output.Append("...\n\n");
        }

        output.Append("  Total sessions").Append(Filters()).Append(": ").Append(counter).Append("\n\n");
        if (cut)
        {
            output.Append("  Warning: too many output sessions, more than the\n")
                .Append("  current value of cli-max-output-sessions CLI parameter.\n")
                .Append("  Refine your request or increase cli-max-output-sessions value.\n\n");
        }
    }

    private static string? Printable(string? text) => text is null ? null : ControlCharacterEscaper.Escape(text);

    private void PrintSession(StringBuilder output, int number, long id, Allocation allocation, long now)
    {
        FiveTuple fiveTuple = allocation.FiveTuple;
        TrafficTotals traffic = TrafficTotals.Of(allocation);
        long left = (long)_context.Time.GetElapsedTime(now, allocation.ExpiresAt).TotalSeconds;
        // Names and origins come from clients: their control characters are shown escaped, so none can forge a line
        // or send the operator's terminal an escape sequence.
        output.Append(CultureInfo.InvariantCulture, $"\n    {number}) id={id:D18}, user <{Printable(allocation.Username)}>:\n");
        output.Append("      realm: ").Append(_context.Settings.Realm).Append('\n');
        if (allocation.Origin is { } origin)
        {
            output.Append("      origin: ").Append(Printable(origin)).Append('\n');
        }

        output.Append(CultureInfo.InvariantCulture, $"      started {(long)allocation.Age.TotalSeconds} secs ago\n");
        output.Append(allocation.ExpiresAt <= now ? "      expired\n" : string.Create(CultureInfo.InvariantCulture, $"      expiring in {left} secs\n"));
        output.Append(CultureInfo.InvariantCulture, $"      client protocol {TurnMetrics.TypeLabel(fiveTuple.Protocol)}, relay protocol {(allocation.IsTcp ? "TCP" : "UDP")}\n");
        output.Append(CultureInfo.InvariantCulture, $"      client addr {fiveTuple.ClientAddress}, server addr {fiveTuple.ServerAddress}\n");
        if (allocation.RelayV4 is { } relayV4)
        {
            output.Append(CultureInfo.InvariantCulture, $"      relay addr {relayV4.LocalAddress}\n");
        }

        if (allocation.RelayV6 is { } relayV6)
        {
            output.Append(CultureInfo.InvariantCulture, $"      relay addr {relayV6.LocalAddress}\n");
        }

        output.Append("      fingerprints enforced: ").Append(Flag(_context.Settings.Fingerprint)).Append('\n');
        output.Append("      mobile: ").Append(Flag(allocation.MobilityTicket is not null)).Append('\n');
        if (allocation.BandwidthLimit > 0)
        {
            output.Append(CultureInfo.InvariantCulture, $"      Max throughput: {allocation.BandwidthLimit} bytes per second\n");
        }

        output.Append(CultureInfo.InvariantCulture, $"      usage: rp={traffic.ClientPacketsReceived}, rb={traffic.ClientBytesReceived}, sp={traffic.ClientPacketsSent}, sb={traffic.ClientBytesSent}\n");
        IReadOnlyList<Permission> permissions = allocation.Permissions;
        if (permissions.Count > 0)
        {
            output.Append("      peers:\n");
            foreach (Permission permission in permissions)
            {
                output.Append("          ").Append(permission.PeerAddress.ToIPAddress()).Append('\n');
            }
        }
    }

    private void PrintUsers(StringBuilder output, string protocol)
    {
        TransportProtocol? only = protocol.ToUpperInvariant() switch
        {
            "" => null,
            "UDP" => TransportProtocol.Udp,
            "TCP" => TransportProtocol.Tcp,
            "TLS" => TransportProtocol.Tls,
            "DTLS" => TransportProtocol.Dtls,
            _ => (TransportProtocol)byte.MaxValue, // coTURN lists nobody for a protocol it does not know
        };

        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int total = 0;
        foreach ((_, Allocation allocation) in Listed())
        {
            if (only is { } wanted && allocation.FiveTuple.Protocol != wanted)
            {
                continue;
            }

            string user = allocation.Username ?? string.Empty;
            counts[user] = counts.GetValueOrDefault(user) + 1;
            total++;
        }

        output.Append('\n');
        foreach ((string user, int sessions) in counts)
        {
            output.Append(CultureInfo.InvariantCulture, $"    user: <{Printable(user)}>, {sessions} sessions\n");
        }

        output.Append('\n').Append("  Total sessions").Append(Filters()).Append(": ").Append(total).Append("\n\n");
    }

    private void DumpSessions(StringBuilder output, string path)
    {
        if (path.Length == 0)
        {
            output.Append("You have to provide file name for ps dump\n\n");
            return;
        }

        var dump = new StringBuilder();
        PrintSessions(dump, string.Empty, exact: true, all: true);
        try
        {
            File.WriteAllText(path, dump.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            output.Append("Cannot open file for writing\n\n");
        }
    }

    private void CancelSession(StringBuilder output, string argument)
    {
        if (!long.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
        {
            output.Append("  No such session: ").Append(argument).Append("\n\n");
            return;
        }

        foreach ((long listedId, Allocation allocation) in Listed())
        {
            if (listedId == id)
            {
                _context.Engine.Allocations.Remove(allocation, AllocationEndReason.Cancelled);
                LogCancelled(_context.Logger, _peer, id);
                return;
            }
        }

        output.Append("  No such session: ").Append(argument).Append("\n\n");
    }

    private string Filters()
    {
        if (_realm.Length > 0)
        {
            return _origin.Length > 0 ? $" for realm {_realm} and for origin {_origin}" : $" for realm {_realm}";
        }

        return _origin.Length > 0 ? $" for origin {_origin}" : string.Empty;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "CLI authentication success from {Peer}")]
    private static partial void LogLogin(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CLI authentication error from {Peer}: connection closed after five wrong passwords")]
    private static partial void LogLoginFailed(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CLI authentication error from {Peer}: wrong password")]
    private static partial void LogWrongPassword(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CLI password from {Peer} refused: its address sent 10 in the last minute; connection closed")]
    private static partial void LogLoginThrottled(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown command received from CLI user at {Peer}")]
    private static partial void LogStop(ILogger logger, string peer);

    [LoggerMessage(Level = LogLevel.Information, Message = "CLI user at {Peer} cancelled session {Session:D18}")]
    private static partial void LogCancelled(ILogger logger, string peer, long session);
}
