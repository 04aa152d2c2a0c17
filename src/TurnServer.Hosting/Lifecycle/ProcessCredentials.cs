using System.Globalization;
using System.Runtime.InteropServices;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// coTURN's <c>proc-user</c> and <c>proc-group</c>: the user and group the server runs as once its listeners are
/// bound, so it can be started as root to bind ports below 1024 and then give root up. Names are looked up through
/// the system's user database (NSS), so LDAP users work too; a number is taken as an ID.
/// </summary>
internal static partial class ProcessCredentials
{
    /// <summary>Finds a user: its ID and primary group ID. False when there is no such user (or not on Linux).</summary>
    public static bool TryFindUser(string nameOrId, out uint userId, out uint primaryGroupId)
    {
        userId = 0;
        primaryGroupId = 0;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        nint entry = uint.TryParse(nameOrId, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) ? getpwuid(id) : getpwnam(nameOrId);
        if (entry == 0)
        {
            return false;
        }

        // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ... } on 64-bit Linux.
        userId = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        primaryGroupId = (uint)Marshal.ReadInt32(entry, (2 * IntPtr.Size) + sizeof(uint));
        return true;
    }

    /// <summary>Finds a group's ID. False when there is no such group (or not on Linux).</summary>
    public static bool TryFindGroup(string nameOrId, out uint groupId)
    {
        groupId = 0;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        nint entry = uint.TryParse(nameOrId, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) ? getgrgid(id) : getgrnam(nameOrId);
        if (entry == 0)
        {
            return false;
        }

        // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem; }.
        groupId = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        return true;
    }

    /// <summary>
    /// Becomes <paramref name="groupId"/> and then <paramref name="userId"/> (either may be null to keep it), dropping
    /// supplementary groups when running as root. glibc applies each change to every thread of the process. Nothing
    /// is done for an ID the process already has, so naming the current user works without root.
    /// </summary>
    /// <exception cref="ProcessCredentialsException">A change was refused (typically EPERM: not running as root); the message names the call and the error.</exception>
    public static void Become(uint? userId, uint? groupId)
    {
        if (geteuid() == 0 && setgroups(0, 0) != 0)
        {
            throw Refused("setgroups", 0);
        }

        if (groupId is { } gid && (getegid() != gid || getgid() != gid) && setgid(gid) != 0)
        {
            throw Refused("setgid", gid);
        }

        if (userId is { } uid && (geteuid() != uid || getuid() != uid) && setuid(uid) != 0)
        {
            throw Refused("setuid", uid);
        }
    }

    private static ProcessCredentialsException Refused(string call, uint id) =>
        new($"{call}({id.ToString(CultureInfo.InvariantCulture)}) failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint getpwnam(string name);

    [LibraryImport("libc")]
    private static partial nint getpwuid(uint uid);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint getgrnam(string name);

    [LibraryImport("libc")]
    private static partial nint getgrgid(uint gid);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setgroups(nuint size, nint list);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setgid(uint gid);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setuid(uint uid);

    [LibraryImport("libc")]
    private static partial uint getuid();

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc")]
    private static partial uint getgid();

    [LibraryImport("libc")]
    private static partial uint getegid();
}

/// <summary>The process could not take the user or group that <c>proc-user</c>/<c>proc-group</c> name.</summary>
public sealed class ProcessCredentialsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProcessCredentialsException()
    {
    }

    /// <summary>Creates the exception with a message naming the refused call.</summary>
    public ProcessCredentialsException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ProcessCredentialsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
