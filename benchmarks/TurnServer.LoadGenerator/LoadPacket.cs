using System.Buffers.Binary;
using System.Diagnostics;

namespace TurnServer.LoadGenerator;

/// <summary>
/// The payload every load packet carries, so a round trip is measured from the packet itself: the send time
/// (<see cref="Stopwatch"/> ticks), the sending client's index and a sequence number, then filler up to the size
/// under test. Little-endian; at least <see cref="MinimumSize"/> bytes.
/// </summary>
internal static class LoadPacket
{
    public const int MinimumSize = 16;

    /// <summary>Writes the header into <paramref name="payload"/> and fills the rest with a fixed pattern.</summary>
    public static void Write(Span<byte> payload, long sentAt, int client, int sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(payload, sentAt);
        BinaryPrimitives.WriteInt32LittleEndian(payload[8..], client);
        BinaryPrimitives.WriteInt32LittleEndian(payload[12..], sequence);
        payload[MinimumSize..].Fill(0x5A);
    }

    /// <summary>Reads the header back; false when the payload is too short to be one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, out long sentAt, out int client, out int sequence)
    {
        if (payload.Length < MinimumSize)
        {
            sentAt = 0;
            client = 0;
            sequence = 0;
            return false;
        }

        sentAt = BinaryPrimitives.ReadInt64LittleEndian(payload);
        client = BinaryPrimitives.ReadInt32LittleEndian(payload[8..]);
        sequence = BinaryPrimitives.ReadInt32LittleEndian(payload[12..]);
        return true;
    }
}

/// <summary>Round-trip times in whole microseconds, 0 to 1 s (slower ones count as 1 s), with exact percentiles.</summary>
internal sealed class RttHistogram
{
    private const int MaxMicroseconds = 1_000_000;
    private readonly long[] _counts = new long[MaxMicroseconds + 1];

    public long Count { get; private set; }

    public void Add(long stopwatchTicks)
    {
        long micros = stopwatchTicks * 1_000_000 / Stopwatch.Frequency;
        _counts[Math.Clamp(micros, 0, MaxMicroseconds)]++;
        Count++;
    }

    /// <summary>The smallest time (µs) at or below which <paramref name="percentile"/> percent of samples fall; 0 when empty.</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(Count * percentile / 100.0));
        long seen = 0;
        for (int i = 0; i <= MaxMicroseconds; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return i;
            }
        }

        return MaxMicroseconds;
    }

    public void Clear()
    {
        Array.Clear(_counts);
        Count = 0;
    }
}

/// <summary>CPU time and resident set of a process, from /proc.</summary>
internal static class ProcStat
{
    private const double ClockTicksPerSecond = 100; // sysconf(_SC_CLK_TCK) on Linux

    /// <summary>utime + stime of <paramref name="pid"/> in seconds (all threads), or NaN when it cannot be read.</summary>
    public static double CpuSeconds(int pid) => CpuSeconds("/proc/" + pid + "/stat");

    private static double CpuSeconds(string statPath)
    {
        try
        {
            string stat = File.ReadAllText(statPath);
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

            // After "pid (comm) ", field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
            return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / ClockTicksPerSecond;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>utime + stime in seconds of each of this process's threads, by thread id.</summary>
    public static Dictionary<int, double> ThreadCpuSeconds()
    {
        var threads = new Dictionary<int, double>();
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            double seconds = CpuSeconds("/proc/self/task/" + Path.GetFileName(task) + "/stat");
            if (!double.IsNaN(seconds))
            {
                threads[int.Parse(Path.GetFileName(task), System.Globalization.CultureInfo.InvariantCulture)] = seconds;
            }
        }

        return threads;
    }

    /// <summary>VmRSS of <paramref name="pid"/> in bytes, or -1.</summary>
    public static long ResidentBytes(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/" + pid + "/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }
}
