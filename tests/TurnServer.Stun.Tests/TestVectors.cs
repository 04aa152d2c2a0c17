namespace TurnServer.Stun.Tests;

/// <summary>Loads hex test data: whitespace-separated bytes, '#' starts a comment line.</summary>
internal static class TestVectors
{
    public static byte[] Load(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "TestData", name);
        var hex = new System.Text.StringBuilder();
        foreach (string line in File.ReadAllLines(path))
        {
            if (!line.TrimStart().StartsWith('#'))
            {
                hex.Append(line.Replace(" ", string.Empty, StringComparison.Ordinal));
            }
        }

        return Convert.FromHexString(hex.ToString());
    }
}
