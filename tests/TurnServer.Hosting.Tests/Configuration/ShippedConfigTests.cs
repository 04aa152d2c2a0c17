using TurnServer.Hosting.Configuration;
using TurnServer.Tests.Shared;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>conf/turnserver.conf, the default configuration: what it offers commented out must be real and working.</summary>
public sealed class ShippedConfigTests
{
    [Fact]
    public void Every_commented_out_option_is_supported_and_loads_with_its_example_value()
    {
        string[] lines = File.ReadAllLines(Path.Combine(RepositoryRoot.Path, "conf", "turnserver.conf"));

        // The alternatives to long-term users are left commented: no-auth and REST secrets exclude them.
        string[] exclusive = ["no-auth", "use-auth-secret", "static-auth-secret", "rest-api-separator"];
        string[] offered = [.. lines.Where(l => (l.Length > 1 && l[0] == '#' && char.IsLetter(l[1]) && !l.Contains(' ', StringComparison.Ordinal)) || l.StartsWith("#psql-userdb=", StringComparison.Ordinal) || l.StartsWith("#redis-userdb=", StringComparison.Ordinal) || l.StartsWith("#redis-statsdb=", StringComparison.Ordinal))
            .Select(l => l[1..])
            .Where(l => !exclusive.Contains(l.Split('=')[0]))];
        Assert.NotEmpty(offered);

        TurnServerConfigLoadResult result = TestLoader.LoadConf(string.Join('\n', [.. lines.Where(l => !l.StartsWith('#')), .. offered]) + "\n");

        Assert.Empty(result.Errors);
        foreach (string name in offered.Select(o => o.Split('=')[0]))
        {
            Assert.True(TurnOptionTable.TryFindByName(name, out TurnOption? option), name);
            Assert.Equal(TurnOptionSupport.Supported, option.Support);
        }

        Assert.DoesNotContain(result.Warnings, w => w.Contains("unknown option", StringComparison.Ordinal) || w.Contains("not yet implemented", StringComparison.Ordinal));
    }
}
