using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Sinks.Async;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// coTURN's log file: <c>log-file=/var/log/turn.log</c> writes <c>/var/log/turn_2026-01-31.log</c> (the date, local
/// time, before the extension) and starts a new file when the date changes; with <c>simple-log</c> the name is used as
/// given and never changes. <see cref="Reopen"/> (SIGHUP) closes and reopens the file, so logrotate can move it away.
/// Lines are flushed to the file when no more are queued behind them: one write for a burst, none held back when idle.
/// Each burst is written at the file's end as it then is, so logrotate's <c>copytruncate</c> works too.
/// A file that cannot be opened (its directory removed or read-only) loses the lines meanwhile, counted in
/// <see cref="LostEvents"/>; the open is tried again a second later (or at once after SIGHUP), and the failure reported
/// on stderr once a minute.
/// </summary>
internal sealed class CoturnFileSink : ILogEventSink, IDisposable
{
    private readonly string _configured;
    private readonly bool _simple;
    private readonly ITextFormatter _formatter;
    private readonly Func<DateTime> _localNow;
    private readonly Func<int> _queued;
    private readonly TextWriter _errors;
    private readonly Lock _sync = new();
    private StreamWriter? _file;
    private bool _batchStarts;
    private DateOnly _day;
    private DateTime? _openFailedAt;
    private DateTime? _failureReportedAt;
    private long _lost;

    /// <summary>
    /// Writes to the file named <paramref name="configured"/> (<c>log-file</c>), dated unless <paramref name="simple"/> (<c>simple-log</c>);
    /// <paramref name="localNow"/> is the local clock (default <see cref="DateTime.Now"/>); <paramref name="queued"/> tells
    /// how many lines wait behind the one being written (default none: every line is flushed); failures to open the file
    /// are reported to <paramref name="errors"/> (default stderr).
    /// </summary>
    public CoturnFileSink(string configured, bool simple, ITextFormatter formatter, Func<DateTime>? localNow = null, Func<int>? queued = null, TextWriter? errors = null)
    {
        _configured = configured;
        _simple = simple;
        _formatter = formatter;
        _localNow = localNow ?? (() => DateTime.Now);
        _queued = queued ?? (() => 0);
        _errors = errors ?? Console.Error;
    }

    /// <summary>How long after a failed open the next one is tried; lines logged meanwhile are lost.</summary>
    public static TimeSpan OpenRetryInterval { get; } = TimeSpan.FromSeconds(1);

    /// <summary>How often, at most, a file that still cannot be opened is reported on stderr.</summary>
    public static TimeSpan FailureReportInterval { get; } = TimeSpan.FromMinutes(1);

    /// <summary>Log events lost because the file could not be opened.</summary>
    public long LostEvents => Interlocked.Read(ref _lost);

    /// <summary>The file written now (or next).</summary>
    public string CurrentPath
    {
        get
        {
            lock (_sync)
            {
                return FileName(_configured, _simple, DateOnly.FromDateTime(_localNow()));
            }
        }
    }

    /// <summary>
    /// coTURN's name for <paramref name="configured"/> on <paramref name="day"/>: blanks become <c>_</c>, then
    /// <c>_YYYY-MM-DD</c> goes before the extension (<c>.log</c> when there is none), without the <c>_</c> when the
    /// name already ends in <c>/</c>, <c>-</c> or <c>_</c>.
    /// </summary>
    public static string FileName(string configured, bool simple, DateOnly day)
    {
        ArgumentNullException.ThrowIfNull(configured);
        if (simple)
        {
            return configured;
        }

        string name = configured.Replace(' ', '_').Replace('\t', '_');
        string extension = ".log";
        int slash = name.LastIndexOf('/');
        int dot = name.LastIndexOf('.');
        if (dot > slash)
        {
            if (name.Length - dot >= 2)
            {
                extension = name[dot..];
            }

            name = name[..dot];
        }

        string date = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        bool separated = name.Length == 0 || name[^1] is '/' or '-' or '_';
        return name + (separated ? string.Empty : "_") + date + extension;
    }

    /// <inheritdoc />
    public void Emit(LogEvent logEvent)
    {
        lock (_sync)
        {
            DateTime now = _localNow();
            DateOnly today = DateOnly.FromDateTime(now);
            if (_file is not null && !_simple && today != _day)
            {
                Close();
            }

            if (_file is null && !TryOpen(now, today))
            {
                Interlocked.Increment(ref _lost);
                return;
            }

            try
            {
                // Each batch goes to the end of the file as it is now: FileStream has no O_APPEND, and after logrotate's
                // copytruncate a write at the old offset would leave the file starting with that many NUL bytes. A pipe
                // (log-file=/dev/stdout under docker) has no end to seek to.
                if (_batchStarts && _file.BaseStream.CanSeek)
                {
                    _file.BaseStream.Seek(0, SeekOrigin.End);
                }

                _formatter.Format(logEvent, _file);
                _batchStarts = _queued() == 0;
                if (_batchStarts)
                {
                    _file.Flush();
                }
            }
            catch (IOException e)
            {
                // A full disk or a failing device: the line is lost, and the file is opened afresh once the retry
                // interval has passed, rather than each line failing on a writer in an unknown state.
                Interlocked.Increment(ref _lost);
                Close();
                Failed(now, FileName(_configured, _simple, today), e);
            }
        }
    }

    [MemberNotNullWhen(true, nameof(_file))]
    private bool TryOpen(DateTime now, DateOnly today)
    {
        // A clock set back (a negative interval) retries at once rather than waiting for the old time to come round.
        if (_openFailedAt is { } failedAt && now - failedAt >= TimeSpan.Zero && now - failedAt < OpenRetryInterval)
        {
            return false;
        }

        string path = FileName(_configured, _simple, today);
        try
        {
            string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }

            // Not FileMode.Append, which refuses a seek below the length the file had when opened.
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            _file = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            _batchStarts = true;
            _day = today;
            _openFailedAt = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Failed(now, path, e);
            return false;
        }
    }

    /// <summary>Notes a failure to open or write <paramref name="path"/>: no retry before the interval, and a report on stderr at most once a minute.</summary>
    private void Failed(DateTime now, string path, Exception e)
    {
        _openFailedAt = now;
        if (_failureReportedAt is not { } reportedAt || now - reportedAt < TimeSpan.Zero || now - reportedAt >= FailureReportInterval)
        {
            _failureReportedAt = now;

            // The log itself cannot carry this; stderr reaches systemd's journal or the terminal.
            _errors.WriteLine($"turnserver: cannot write log file {path} ({e.Message}); log lines are dropped until it opens again");
        }
    }

    /// <summary>
    /// Lets go of the file, whatever its last flush does: a writer that failed to flush (a full disk) must not stay as
    /// the one the next line goes to.
    /// </summary>
    private void Close()
    {
        StreamWriter? file = _file;
        _file = null;
        try
        {
            file?.Dispose();
        }
        catch (IOException)
        {
            // What the writer still held is lost with it; how many lines that was is not known.
        }
    }

    /// <summary>Closes the file; the next event opens it again by name. Never throws.</summary>
    public void Reopen()
    {
        lock (_sync)
        {
            Close();
            _openFailedAt = null;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Reopen();
}

/// <summary>
/// The log files of the process, reopened together on SIGHUP. Also watches the queue in front of the file or syslog
/// sink: lines are written by a background thread so that a slow disk never stalls a thread that relays, and lines
/// that find the queue full are dropped and counted here.
/// </summary>
internal sealed class LogFiles : IAsyncLogEventSinkMonitor
{
    /// <summary>Log events queued for the file or syslog writer before further ones are dropped.</summary>
    public const int QueueLength = 10_000;

    private readonly List<CoturnFileSink> _sinks = [];
    private IAsyncLogEventSinkInspector? _queue;

    /// <summary>
    /// Log events dropped because the writer's queue was full (a disk or syslog daemon too slow) or a log file could not
    /// be opened.
    /// </summary>
    public long DroppedEvents
    {
        get
        {
            long dropped = Volatile.Read(ref _queue)?.DroppedMessagesCount ?? 0;
            foreach (CoturnFileSink sink in _sinks)
            {
                dropped += sink.LostEvents;
            }

            return dropped;
        }
    }

    /// <summary>Log events waiting for the writer now.</summary>
    public int QueuedEvents => Volatile.Read(ref _queue)?.Count ?? 0;

    /// <inheritdoc />
    public void StartMonitoring(IAsyncLogEventSinkInspector inspector) => Volatile.Write(ref _queue, inspector);

    /// <inheritdoc />
    public void StopMonitoring(IAsyncLogEventSinkInspector inspector)
    {
    }

    /// <summary>Registers a sink to reopen on SIGHUP.</summary>
    public void Add(CoturnFileSink sink) => _sinks.Add(sink);

    /// <summary>Closes every registered file; each reopens by name with its next event (SIGHUP, for logrotate).</summary>
    public void Reopen()
    {
        foreach (CoturnFileSink sink in _sinks)
        {
            sink.Reopen();
        }
    }
}
