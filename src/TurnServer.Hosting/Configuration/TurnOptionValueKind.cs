namespace TurnServer.Hosting.Configuration;

/// <summary>The shape of an option's value, which decides how it is validated.</summary>
public enum TurnOptionValueKind
{
    /// <summary>
    /// A boolean flag. A missing value means true; otherwise judged as coTURN does, by the first character
    /// (<c>0</c>, <c>n</c>, <c>f</c> false; <c>1</c>-<c>9</c>, <c>y</c>, <c>t</c> true) or as <c>on</c>/<c>off</c>.
    /// </summary>
    Boolean,

    /// <summary>A decimal integer within the option's <see cref="TurnOption.Minimum"/>..<see cref="TurnOption.Maximum"/>.</summary>
    Integer,

    /// <summary>A port number, 0..65535.</summary>
    Port,

    /// <summary>An IPv4 or IPv6 address literal, or a host name looked up at load time (its first IPv4 address, else IPv6).</summary>
    IPAddress,

    /// <summary>An address or an inclusive range: <c>ip</c>, <c>ip-ip</c>, or (an extension) <c>ip/prefix</c>.</summary>
    IPAddressRange,

    /// <summary><c>public-ip</c> or <c>public-ip/private-ip</c>, as <c>external-ip</c> takes it.</summary>
    ExternalIp,

    /// <summary><c>ip</c>, <c>ip:port</c> or <c>[ipv6]:port</c>, a host name in place of <c>ip</c>; the port defaults per option.</summary>
    IPEndPoint,

    /// <summary><c>name:password</c>, or <c>name:0x</c> followed by the 32 hex digits of the MD5 key <c>turnadmin -k</c> prints.</summary>
    User,

    /// <summary>A single character.</summary>
    Character,

    /// <summary>Free text.</summary>
    String,

    /// <summary>A file or directory path.</summary>
    Path,
}
