namespace TurnServer.Hosting.Configuration;

/// <summary>Finds turnserver.conf as coTURN's <c>find_config_file</c> does.</summary>
internal static class ConfigFileLocator
{
    /// <summary>The file looked for when neither <c>-c</c> nor <c>-n</c> is given.</summary>
    public const string DefaultFileName = "turnserver.conf";

    // coTURN's config_file_search_dirs, relative ones against the working directory. coTURN also tries
    // <install prefix>/etc/..., which depends on how it was built; the absolute directories here cover the packages.
    private static readonly string[] SearchDirectories =
    [
        "./", "./turnserver/", "./coturn/",
        "./etc/", "./etc/turnserver/", "./etc/coturn/",
        "../etc/", "../etc/turnserver/", "../etc/coturn/",
        "/etc/", "/etc/turnserver/", "/etc/coturn/",
        "/usr/local/etc/", "/usr/local/etc/turnserver/", "/usr/local/etc/coturn/",
    ];

    /// <summary>Where coTURN looks for a relative file name, in order.</summary>
    public static IEnumerable<string> Candidates(string fileName) => Candidates(fileName, SearchDirectories);

    /// <summary>
    /// Resolves a <c>-c</c> name, and the <c>cert</c>, <c>pkey</c> and <c>CA-file</c> names, which coTURN finds the same
    /// way: a rooted path (or one starting with <c>~</c>, which coTURN also takes as given) is used as is; a relative
    /// one is searched in coTURN's directories, then, if it starts with <c>etc/</c>, without that. Null when not found.
    /// </summary>
    public static string? Resolve(string fileName) => Resolve(fileName, SearchDirectories);

    /// <summary>As <see cref="Resolve(string)"/>, searching <paramref name="directories"/> instead of coTURN's.</summary>
    public static string? Resolve(string fileName, IReadOnlyList<string> directories)
    {
        if (Path.IsPathRooted(fileName) || fileName.StartsWith('~'))
        {
            return File.Exists(fileName) ? fileName : null;
        }

        string? found = Candidates(fileName, directories).FirstOrDefault(File.Exists);
        return found ?? (fileName.StartsWith("etc/", StringComparison.Ordinal) ? Resolve(fileName[4..], directories) : null);
    }

    private static IEnumerable<string> Candidates(string fileName, IReadOnlyList<string> directories) =>
        directories.Select(directory => Path.GetFullPath(Path.Combine(directory, fileName)));
}
