using System.Net;
using System.Text.RegularExpressions;

namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Recognises the variables Kubernetes puts in every pod of a namespace for each Service there (service links): a
/// Service named <c>turnserver-cli</c> brings <c>TURNSERVER_CLI_PORT=tcp://10.0.0.1:5766</c>, which would otherwise be
/// read as <c>cli-port</c> and stop start-up, and <c>TURNSERVER_CLI_SERVICE_HOST</c> and the like, which would be
/// warned about as unknown options.
/// </summary>
internal static partial class KubernetesServiceLinks
{
    /// <summary>
    /// True when <paramref name="variable"/> has the name of a service-link variable and <paramref name="value"/> the
    /// value Kubernetes gives it: <c>NAME_PORT</c> and <c>NAME_PORT_5766_TCP</c> a <c>tcp://</c>, <c>udp://</c> or
    /// <c>sctp://</c> address and port; <c>NAME_PORT_5766_TCP_PROTO</c> the protocol, <c>..._PORT</c> the port and
    /// <c>..._ADDR</c> the address; <c>NAME_SERVICE_HOST</c> an address, <c>NAME_SERVICE_PORT</c> (and
    /// <c>NAME_SERVICE_PORT_&lt;port name&gt;</c>) a port.
    /// </summary>
    public static bool IsServiceLink(string variable, string? value)
    {
        Match name = Name().Match(variable);
        if (!name.Success || value is null)
        {
            return false;
        }

        if (name.Groups["serviceHost"].Success)
        {
            return IPAddress.TryParse(value, out _);
        }

        if (name.Groups["servicePort"].Success)
        {
            return TurnValueParser.TryParsePort(value, out _);
        }

        if (!name.Groups["number"].Success)
        {
            return IsUrl(value, null, null);
        }

        string number = name.Groups["number"].Value;
        string protocol = name.Groups["protocol"].Value.ToLowerInvariant();
        return name.Groups["part"].Value switch
        {
            "" => IsUrl(value, protocol, number),
            "_PROTO" => value == protocol,
            "_PORT" => value == number,
            _ => IPAddress.TryParse(value, out _),
        };
    }

    // protocol://address:port, the address in brackets when it is IPv6, as Kubernetes writes it.
    private static bool IsUrl(string value, string? protocol, string? port)
    {
        Match url = Url().Match(value);
        return url.Success
            && (protocol is null || url.Groups["protocol"].Value == protocol)
            && (port is null || url.Groups["port"].Value == port)
            && TurnValueParser.TryParsePort(url.Groups["port"].Value, out _)
            && IPAddress.TryParse(url.Groups["host"].Value, out _);
    }

    [GeneratedRegex(@"^[A-Z][A-Z0-9_]*?(?:(?<serviceHost>_SERVICE_HOST)|(?<servicePort>_SERVICE_PORT(?:_[A-Z0-9_]+)?)|_PORT(?:_(?<number>[0-9]{1,5})_(?<protocol>TCP|UDP|SCTP)(?<part>_PROTO|_PORT|_ADDR)?)?)$", RegexOptions.CultureInvariant)]
    private static partial Regex Name();

    [GeneratedRegex(@"^(?<protocol>tcp|udp|sctp)://(?:\[(?<host>[0-9A-Fa-f:.]+)\]|(?<host>[0-9.]+)):(?<port>[0-9]{1,5})$", RegexOptions.CultureInvariant)]
    private static partial Regex Url();
}
