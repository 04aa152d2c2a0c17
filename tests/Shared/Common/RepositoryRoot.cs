namespace TurnServer.Tests.Shared;

/// <summary>The checkout the tests run from: the directory holding TurnServer.sln, above the test binaries.</summary>
internal static class RepositoryRoot
{
    /// <summary>The repository's root directory.</summary>
    /// <exception cref="InvalidOperationException">No TurnServer.sln above the test binaries.</exception>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "TurnServer.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("TurnServer.sln not found above " + AppContext.BaseDirectory);
    }
}
