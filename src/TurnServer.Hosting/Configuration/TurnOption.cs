namespace TurnServer.Hosting.Configuration;

/// <summary>
/// One coTURN option as <see cref="TurnOptionTable"/> describes it: its names, how it takes a value,
/// its documented default and whether TurnServer honours it.
/// </summary>
public sealed class TurnOption
{
    /// <summary>Options are made only by <see cref="TurnOptionTable"/>.</summary>
    internal TurnOption()
    {
    }

    /// <summary>The long name, case-sensitive as in coTURN (<c>Verbose</c> differs from <c>verbose</c>); null for the short-only <c>-c</c>, <c>-n</c>, <c>-h</c>.</summary>
    public string? Name { get; internal init; }

    /// <summary>Other long names coTURN accepts for the option (<c>db</c> for <c>userdb</c>).</summary>
    public IReadOnlyList<string> Aliases { get; internal init; } = [];

    /// <summary>The single-letter command-line form, if any (<c>p</c> for <c>-p</c>).</summary>
    public char? ShortName { get; internal init; }

    /// <summary>Whether the long form takes a value.</summary>
    public TurnOptionArgument Argument { get; internal init; }

    /// <summary>
    /// Whether the short form takes a value. It follows <see cref="Argument"/> except where coTURN's short-option
    /// string differs: flags like <c>-a</c> take none, while <c>-K</c> needs one although <c>--keep-address-family</c> does not.
    /// </summary>
    public bool ShortNameTakesValue
    {
        get => field || Argument == TurnOptionArgument.Required;
        internal init;
    }

    /// <summary>The shape of the value.</summary>
    public TurnOptionValueKind ValueKind { get; internal init; }

    /// <summary>For <see cref="TurnOptionValueKind.Integer"/>: the smallest value accepted.</summary>
    public long Minimum { get; internal init; }

    /// <summary>For <see cref="TurnOptionValueKind.Integer"/>: the largest value accepted.</summary>
    public long Maximum { get; internal init; } = int.MaxValue;

    /// <summary>The default as coTURN documents it, in words where it is not a literal; null when there is none.</summary>
    public string? DefaultValue { get; internal init; }

    /// <summary>A one-line description.</summary>
    public string Description { get; internal init; } = "";

    /// <summary>Whether TurnServer honours the option.</summary>
    public TurnOptionSupport Support { get; internal init; }

    /// <summary>
    /// For a <see cref="TurnOptionSupport.NotYetImplemented"/> option, what TurnServer does instead of what it asks for,
    /// named in the warning when it is given; null when the description says enough.
    /// </summary>
    internal string? NotHonoured { get; init; }

    /// <summary>True when the option may be given more than once, each time adding to a list.</summary>
    public bool Repeatable { get; internal init; }

    /// <summary>
    /// True when an empty value (<c>realm=</c>, as a template writes it for an unset variable) counts as the option not
    /// given, with a warning, so an earlier source's value or else the default applies: single text and number options,
    /// whose empty value coTURN reads as its default (or as 0). False for flags and optional values (given bare, they
    /// mean on or the default already), for lists and addresses (an empty one is an error: an address, user or secret
    /// the configuration relied on is missing), and for options with <see cref="KeepsEmptyValue"/>.
    /// </summary>
    public bool EmptyMeansNotGiven =>
        Argument == TurnOptionArgument.Required && !Repeatable && !CommandLineOnly && !KeepsEmptyValue
        && ValueKind is TurnOptionValueKind.Integer or TurnOptionValueKind.Port or TurnOptionValueKind.String
            or TurnOptionValueKind.Path or TurnOptionValueKind.Character;

    /// <summary>
    /// Set where an empty value must reach the settings as given: <c>pidfile=</c> means no pidfile, and an empty
    /// <c>proc-user</c>, <c>proc-group</c>, <c>listening-device</c> or <c>relay-device</c> is an error, since ignoring
    /// it would leave the process as root or its sockets on every interface.
    /// </summary>
    internal bool KeepsEmptyValue { get; init; }

    /// <summary>True for options that only steer the command line (<c>-c</c>, <c>-n</c>, <c>-h</c>, <c>--version</c>) and never reach the configuration.</summary>
    public bool CommandLineOnly { get; internal init; }

    /// <summary>
    /// The key under which the option's value is stored in <see cref="Microsoft.Extensions.Configuration.IConfiguration"/>:
    /// the long name, except <c>Verbose</c>, stored as <c>extra-verbose</c> because configuration keys are
    /// case-insensitive and would merge it with <c>verbose</c>. Repeatable options store <c>key:0</c>, <c>key:1</c>, ...
    /// Null for <see cref="CommandLineOnly"/> options.
    /// </summary>
    public string? ConfigurationKey
    {
        get => CommandLineOnly ? null : field ?? Name;
        internal init;
    }

    /// <summary>How the option is written on the command line: <c>--listening-port</c>, or <c>-c</c> for short-only options.</summary>
    public string DisplayName => Name is null ? "-" + ShortName : "--" + Name;

    /// <summary>The placeholder shown for the value in help text (<c>&lt;port&gt;</c>).</summary>
    internal string ValuePlaceholder => ValueKind switch
    {
        TurnOptionValueKind.Integer => "<number>",
        TurnOptionValueKind.Port => "<port>",
        TurnOptionValueKind.IPAddress => "<ip>",
        TurnOptionValueKind.IPAddressRange => "<ip[-ip]>",
        TurnOptionValueKind.ExternalIp => "<public-ip[/private-ip]>",
        TurnOptionValueKind.IPEndPoint => "<ip:port>",
        TurnOptionValueKind.User => "<user:password>",
        TurnOptionValueKind.Character => "<char>",
        TurnOptionValueKind.Path => "<file>",
        TurnOptionValueKind.Boolean => "<bool>",
        _ => "<value>",
    };

    /// <inheritdoc />
    public override string ToString() => DisplayName;
}
