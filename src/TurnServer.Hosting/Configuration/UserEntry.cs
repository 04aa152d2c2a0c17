namespace TurnServer.Hosting.Configuration;

/// <summary>
/// A static long-term credential account from <c>user=</c> (RFC 8489 section 9.2). Exactly one of
/// <see cref="Password"/> and <see cref="Key"/> is set.
/// </summary>
/// <param name="Name">The user name, case-sensitive.</param>
/// <param name="Password">The password, for <c>name:password</c>.</param>
/// <param name="Key">
/// The 16-byte long-term key MD5(name ":" realm ":" password), for <c>name:0x&lt;32 hex digits&gt;</c> as <c>turnadmin -k</c> prints it.
/// </param>
public sealed record UserEntry(string Name, string? Password, byte[]? Key);
