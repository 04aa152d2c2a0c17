using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace TurnServer.UserDb;

/// <summary>
/// coTURN's stored form of an administrator's password (<c>cli-password</c>, and the <c>admin_user</c> table), as
/// <c>turnadmin -P</c> prints it: <c>$5$</c>, 8 random salt bytes in lowercase hex, <c>$</c>, then SHA-256 over the salt
/// bytes followed by the password's UTF-8 bytes, in lowercase hex (84 characters in all). A configured value not of
/// that form is the password itself, as coTURN takes it.
/// </summary>
public static class AdminPassword
{
    private const int SaltBytes = 8;
    private const string Prefix = "$5$";

    /// <summary>Length of the stored form: prefix (3), salt (16 hex digits), separator (1), digest (64 hex digits).</summary>
    private const int EncryptedLength = 3 + (2 * SaltBytes) + 1 + (2 * 32);

    /// <summary>The stored form of <paramref name="password"/> with a fresh random salt.</summary>
    public static string Encrypt(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        return Encrypt(password, RandomNumberGenerator.GetBytes(SaltBytes));
    }

    /// <summary>
    /// Whether <paramref name="entered"/> is the password <paramref name="configured"/> stands for: its stored form,
    /// or, when <paramref name="configured"/> is not of that form, the same string. Compares in constant time. An
    /// empty <paramref name="configured"/> matches nothing: an <c>admin_user</c> row written by hand without a
    /// password must not open the web admin to an empty one.
    /// </summary>
    public static bool Matches(string entered, string configured)
    {
        ArgumentNullException.ThrowIfNull(entered);
        ArgumentNullException.ThrowIfNull(configured);
        if (configured.Length == 0)
        {
            return false;
        }

        string expected = TryReadSalt(configured, out byte[]? salt) ? Encrypt(entered, salt) : entered;

        // Digests of equal length, so the time taken does not tell a plain password's length either.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(configured)));
    }

    private static string Encrypt(string password, byte[] salt)
    {
        byte[] secret = Encoding.UTF8.GetBytes(password);
        byte[] hashed = new byte[salt.Length + secret.Length];
        salt.CopyTo(hashed, 0);
        secret.CopyTo(hashed, salt.Length);
        return Prefix + Convert.ToHexStringLower(salt) + "$" + Convert.ToHexStringLower(SHA256.HashData(hashed));
    }

    private static bool TryReadSalt(string configured, [NotNullWhen(true)] out byte[]? salt)
    {
        salt = null;
        if (configured.Length < EncryptedLength || !configured.StartsWith(Prefix, StringComparison.Ordinal) || configured[3 + (2 * SaltBytes)] != '$')
        {
            return false;
        }

        try
        {
            salt = Convert.FromHexString(configured.AsSpan(3, 2 * SaltBytes));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
