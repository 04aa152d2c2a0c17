using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Tests.Configuration;

namespace TurnServer.Hosting.Tests.Logging;

public sealed class LoggingTests : IDisposable
{
    private static readonly DateOnly Day = new(2026, 1, 31);
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-log-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("/var/log/turn.log", "/var/log/turn_2026-01-31.log")]
    [InlineData("/var/log/turnserver", "/var/log/turnserver_2026-01-31.log")]
    [InlineData("/var/log/turn_", "/var/log/turn_2026-01-31.log")]
    [InlineData("/var/log/my turn.txt", "/var/log/my_turn_2026-01-31.txt")]
    [InlineData("/var/log.d/turn", "/var/log.d/turn_2026-01-31.log")]
    public void Log_file_names_follow_coturn(string configured, string expected) =>
        Assert.Equal(expected, CoturnFileSink.FileName(configured, simple: false, Day));

    /// <summary>The demo user's password in the shipped conf is public: a server started with it says so, once per such user.</summary>
    [Fact]
    public void Start_up_warns_about_a_user_with_the_shipped_sample_password_and_no_other()
    {
        string log = Path.Combine(_directory, "turn.log");
        TurnServerSettings settings = TestLoader.Settings(
            "lt-cred-mech\nrealm=example.org\nuser=demo:change-me\nuser=alice:change-me-soon\nno-tls\nno-dtls\n",
            "--log-file=" + log,
            "--simple-log");
        using (Microsoft.Extensions.Hosting.IHost host = TurnServerHostFactory.Create(settings))
        {
            Assert.NotNull(host);
        }

        string warning = Assert.Single(File.ReadAllLines(log), l => l.Contains("password of the shipped sample config", StringComparison.Ordinal));
        Assert.Contains("User 'demo'", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("change-me", warning, StringComparison.Ordinal); // never the password itself
    }

    [Fact]
    public void Simple_log_keeps_the_name() => Assert.Equal("/var/log/turn.log", CoturnFileSink.FileName("/var/log/turn.log", simple: true, Day));

    [Fact]
    public void A_new_day_starts_a_new_file_and_reopen_writes_under_the_same_name()
    {
        DateTime now = new(2026, 1, 31, 23, 59, 0);
        var sink = new CoturnFileSink(Path.Combine(_directory, "turn.log"), simple: false, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), () => now);
        sink.Emit(Event("before midnight"));
        now = now.AddMinutes(2);
        sink.Emit(Event("after midnight"));
        File.Move(Path.Combine(_directory, "turn_2026-02-01.log"), Path.Combine(_directory, "rotated"));
        sink.Reopen();
        sink.Emit(Event("after rotation"));
        sink.Dispose();

        Assert.Equal("before midnight\n", File.ReadAllText(Path.Combine(_directory, "turn_2026-01-31.log")).Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal("after midnight\n", File.ReadAllText(Path.Combine(_directory, "rotated")).Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal("after rotation\n", File.ReadAllText(Path.Combine(_directory, "turn_2026-02-01.log")).Replace("\r", "", StringComparison.Ordinal));
    }

    /// <summary>
    /// Regression: when the new day's file could not be opened, the sink kept the day before's writer, closed, and every
    /// later line threw ObjectDisposedException (swallowed by the async writer) until the next day or SIGHUP.
    /// </summary>
    [Fact]
    public void A_file_that_cannot_be_opened_loses_lines_until_an_open_a_second_later_succeeds()
    {
        DateTime now = new(2026, 1, 31, 23, 59, 0);
        var errors = new StringWriter();
        using var sink = new CoturnFileSink(Path.Combine(_directory, "turn.log"), simple: false, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), () => now, errors: errors);
        sink.Emit(Event("before midnight"));
        string blocked = Path.Combine(_directory, "turn_2026-02-01.log");
        Directory.CreateDirectory(blocked); // no open of a directory for writing succeeds, even as root

        now = now.AddMinutes(2);
        sink.Emit(Event("lost"));
        Directory.Delete(blocked);
        sink.Emit(Event("also lost: the next open waits"));
        now += CoturnFileSink.OpenRetryInterval;
        sink.Emit(Event("kept"));
        sink.Emit(Event("kept too"));

        Assert.Equal("kept\nkept too\n", File.ReadAllText(blocked).Replace("\r", "", StringComparison.Ordinal));
        Assert.Equal(2, sink.LostEvents);
        Assert.Contains("cannot write log file " + blocked, Assert.Single(errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    /// <summary>SIGHUP after the cause is fixed opens the file at once, without waiting for the next retry.</summary>
    [Fact]
    public void Reopen_after_a_failed_open_tries_again_at_once()
    {
        DateTime now = new(2026, 1, 31, 12, 0, 0);
        string path = Path.Combine(_directory, "turn.log");
        Directory.CreateDirectory(path);
        using var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), () => now, errors: TextWriter.Null);
        sink.Emit(Event("lost"));
        Directory.Delete(path);

        sink.Reopen();
        sink.Emit(Event("kept"));

        Assert.Equal("kept\n", File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal));
    }

    /// <summary>A file that stays unopenable is tried each second but reported once a minute, not once a line.</summary>
    [Fact]
    public void Open_failures_are_reported_at_most_once_a_minute()
    {
        DateTime now = new(2026, 1, 31, 12, 0, 0);
        var errors = new StringWriter();
        string path = Path.Combine(_directory, "turn.log");
        Directory.CreateDirectory(path);
        using var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), () => now, errors: errors);

        for (int second = 0; second <= 60; second++)
        {
            sink.Emit(Event("lost"));
            sink.Emit(Event("lost"));
            now = now.AddSeconds(1);
        }

        Assert.Equal(122, sink.LostEvents);
        Assert.Equal(2, errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // at 0 s and at 60 s
    }

    /// <summary>Lines with more queued behind them wait in the writer; the last of a burst flushes them all in one write.</summary>
    [Fact]
    public void Lines_are_flushed_when_no_more_are_queued()
    {
        string path = Path.Combine(_directory, "turn.log");
        int queued = 2;
        using var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), queued: () => queued);

        sink.Emit(Event("first"));
        queued = 1;
        sink.Emit(Event("second"));
        Assert.Equal(0, new FileInfo(path).Length);

        queued = 0;
        sink.Emit(Event("third"));
        Assert.Equal("first\nsecond\nthird\n", File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal));
    }

    /// <summary>
    /// Regression: logrotate's copytruncate empties the file under the writer, which kept writing at its old offset
    /// (FileStream has no O_APPEND), so the file began with as many NUL bytes as it had held.
    /// </summary>
    [Fact]
    public void A_file_truncated_under_the_writer_is_written_from_its_new_end_without_nul_bytes()
    {
        string path = Path.Combine(_directory, "turn.log");
        using var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture));
        sink.Emit(Event("before rotation"));

        using (new FileStream(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
        }

        sink.Emit(Event("after rotation"));
        Assert.Equal("after rotation\n", File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal));
    }

    /// <summary>
    /// Regression: each batch began with a seek to the file's end, which a pipe has not; with log-file=/dev/stdout
    /// under docker (a pipe) every line threw and none was written.
    /// </summary>
    [Fact]
    public async Task A_pipe_gets_the_lines()
    {
        string path = Path.Combine(_directory, "turn.fifo");
        using (Process mkfifo = Process.Start("mkfifo", path))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        // Opening a FIFO waits for the other end: the reader opens it while the sink's first line opens it to write.
        Task<string?> read = Task.Run(() =>
        {
            using var reader = new StreamReader(path);
            return reader.ReadLine();
        });
        using (var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture)))
        {
            sink.Emit(Event("through the pipe"));
            Assert.Equal(0, sink.LostEvents);
        }

        Assert.Equal("through the pipe", await read.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>
    /// Regression: a write that failed (a full disk) threw out of the sink, uncounted, and the failed writer stayed:
    /// closing it on SIGHUP threw again, before the configuration was reloaded. Now the line is counted lost, the writer
    /// let go, and a reopen never throws.
    /// </summary>
    [Fact]
    public void A_full_disk_loses_lines_counted_and_a_reopen_does_not_throw()
    {
        DateTime now = new(2026, 1, 31, 12, 0, 0);
        var errors = new StringWriter();
        using var sink = new CoturnFileSink("/dev/full", simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture), () => now, errors: errors);

        sink.Emit(Event("lost: no space"));
        sink.Emit(Event("lost: the next open waits"));
        now += CoturnFileSink.OpenRetryInterval;
        sink.Emit(Event("lost: no space again"));
        sink.Reopen();

        Assert.Equal(3, sink.LostEvents);
        Assert.Contains("cannot write log file /dev/full", errors.ToString(), StringComparison.Ordinal);
    }

    /// <summary>A file written by a previous run is appended to, not overwritten.</summary>
    [Fact]
    public void An_existing_file_is_appended_to()
    {
        string path = Path.Combine(_directory, "turn.log");
        File.WriteAllText(path, "earlier run\n");
        using var sink = new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message}{NewLine}", CultureInfo.InvariantCulture));

        sink.Emit(Event("this run"));

        Assert.Equal("earlier run\nthis run\n", File.ReadAllText(path).Replace("\r", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Syslog_datagrams_carry_priority_timestamp_tag_and_message()
    {
        string path = Path.Combine(_directory, "log.sock");
        using var daemon = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        daemon.Bind(new UnixDomainSocketEndPoint(path));
        Assert.True(SyslogSink.TryParseFacility("LOG_LOCAL3", out int local3));
        using var sink = new SyslogSink(local3, new MessageTemplateTextFormatter("{Message}", CultureInfo.InvariantCulture), path);

        sink.Emit(Event("session closed", LogEventLevel.Warning, new DateTimeOffset(2026, 3, 5, 7, 8, 9, TimeSpan.Zero)));

        var buffer = new byte[2048];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int received = await daemon.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        string line = Encoding.UTF8.GetString(buffer, 0, received);
        // LOG_LOCAL3 (19) * 8 + warning (4); the day is padded to two characters, as syslog(3) writes it.
        DateTime local = new DateTimeOffset(2026, 3, 5, 7, 8, 9, TimeSpan.Zero).LocalDateTime;
        string stamp = local.ToString("MMM", CultureInfo.InvariantCulture) + " " + local.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2) + " " + local.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        Assert.Equal($"<156>{stamp} turnserver[{Environment.ProcessId}]: session closed", line);
    }

    /// <summary>A message sent while no daemon listens is dropped without an exception, and the next one, once it does, arrives.</summary>
    [Fact]
    public async Task Syslog_without_a_daemon_drops_quietly()
    {
        string path = Path.Combine(_directory, "log.sock");
        using var sink = new SyslogSink(1, new MessageTemplateTextFormatter("{Message}", CultureInfo.InvariantCulture), path);

        sink.Emit(Event("lost"));
        using var daemon = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        daemon.Bind(new UnixDomainSocketEndPoint(path));
        sink.Emit(Event("kept"));

        var buffer = new byte[2048];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int received = await daemon.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        Assert.EndsWith("]: kept", Encoding.UTF8.GetString(buffer, 0, received), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("%FT%T%z", "2026-01-31T07:08:09+00:00")]
    [InlineData("%d/%m/%Y %H:%M", "31/01/2026 07:08")]
    [InlineData("%e %b %T", "31 Jan 07:08:09")]
    [InlineData("[%Y] 100%%", "[2026] 100%")]
    public void Strftime_formats_become_dotnet_formats(string strftime, string expected)
    {
        Assert.True(LogTimestampFormat.TryConvert(strftime, out string format, out _));
        Assert.Equal(expected, new DateTimeOffset(2026, 1, 31, 7, 8, 9, TimeSpan.Zero).ToString(format, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Log_options_bind_as_coturn_reads_them()
    {
        TurnServerSettings syslog = TestLoader.Settings("no-auth\nlog-file=syslog\nsyslog-facility=LOG_LOCAL7\nnew-log-timestamp\n");
        Assert.True(syslog.Syslog);
        Assert.Equal(23, syslog.SyslogFacility);
        Assert.Equal("yyyy-MM-dd\\THH:mm:sszzz", syslog.LogTimestampFormat);

        TurnServerConfigLoadResult bad = TestLoader.LoadConf("no-auth\nsyslog\nsyslog-facility=LOG_NOWHERE\n");
        Assert.Equal(1, bad.Settings!.SyslogFacility);
        Assert.Contains(bad.Warnings, w => w.Contains("'LOG_NOWHERE' for option 'syslog-facility'", StringComparison.Ordinal));
        Assert.Contains("the conversion '%Q' is not supported", TestLoader.SingleError("no-auth\nnew-log-timestamp\nnew-log-timestamp-format=%Q\n"), StringComparison.Ordinal);
        Assert.Null(TestLoader.Settings("no-auth\nnew-log-timestamp-format=%F\n").LogTimestampFormat); // needs new-log-timestamp, as in coTURN
    }

    /// <summary>A login name with a newline must not forge a second line in the file (fail2ban reads it).</summary>
    [Fact]
    public void Control_characters_in_logged_values_are_escaped_so_a_value_cannot_forge_a_line()
    {
        string path = Path.Combine(_directory, "turn.log");
        using (Serilog.Core.Logger logger = new Serilog.LoggerConfiguration()
            .Enrich.With(new ControlCharacterEscaper())
            .WriteTo.Sink(new CoturnFileSink(path, simple: true, new MessageTemplateTextFormatter("{Message:lj}{NewLine}", CultureInfo.InvariantCulture)))
            .CreateLogger())
        {
            logger.Information("web admin login failed for {Admin} from {Client}", "x\n0: web admin login for boss\u001b[2J", "127.0.0.1");
            logger.Information("plain {Value}", "tab\there");
        }

        string[] lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            ["web admin login failed for x\\x0A0: web admin login for boss\\x1B[2J from 127.0.0.1", "plain tab\\x09here"],
            lines);
    }

    /// <summary>
    /// Regression: only C0 controls and DEL were escaped; a client's ORIGIN or USERNAME could carry U+009B (C1 CSI),
    /// which terminals act on when an operator lists sessions in the CLI, U+0085 or U+2028 (line breaks to some
    /// readers), or a bidi override that shows text in another order than it is.
    /// </summary>
    [Theory]
    [InlineData("a\u009B2Jb", "a\\x9B2Jb")]
    [InlineData("a\u0085b", "a\\x85b")]
    [InlineData("a\u2028b\u2029c", "a\\u2028b\\u2029c")]
    [InlineData("user\u202Efdp.exe", "user\\u202Efdp.exe")]
    [InlineData("\u2066x\u2069", "\\u2066x\\u2069")]
    [InlineData("café naïve ☃", "café naïve ☃")]
    public void C1_controls_line_separators_and_bidi_controls_are_escaped_and_other_text_kept(string text, string expected) =>
        Assert.Equal(expected, ControlCharacterEscaper.Escape(text));

    private static LogEvent Event(string text, LogEventLevel level = LogEventLevel.Information, DateTimeOffset? at = null) =>
        new(at ?? DateTimeOffset.Now, level, null, new MessageTemplateParser().Parse(text), []);
}
