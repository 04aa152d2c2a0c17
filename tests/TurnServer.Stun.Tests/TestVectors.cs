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

    /// <summary>Every proper prefix of the message in <paramref name="name"/> is rejected by TryParse, without an exception.</summary>
    public static void AssertEveryProperPrefixFails(string name)
    {
        byte[] bytes = Load(name);
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.NotEqual(StunParseResult.Success, StunMessageReader.TryParse(bytes.AsSpan(0, length), out _));
        }
    }
}
