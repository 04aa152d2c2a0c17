using TurnServer.UserDb;

namespace TurnServer.UserDb.Tests;

public class AdminPasswordTests
{
    /// <summary>Printed by Debian's coTURN 4.6.1: <c>turnadmin -P -p secret</c>.</summary>
    private const string FromDebiansTurnadmin = "$5$82c6648bb1286dbf$4286270e8eb72695b5b8e5a58a65714c860ab83240201a03d0454dad53c85d92";

    [Fact]
    public void The_form_coturns_turnadmin_prints_admits_only_its_password()
    {
        Assert.True(AdminPassword.Matches("secret", FromDebiansTurnadmin));
        Assert.False(AdminPassword.Matches("Secret", FromDebiansTurnadmin));
        Assert.False(AdminPassword.Matches(FromDebiansTurnadmin, FromDebiansTurnadmin));
    }

    [Fact]
    public void Encrypt_gives_coturns_form_with_a_fresh_salt_each_time()
    {
        string first = AdminPassword.Encrypt("secret");
        string second = AdminPassword.Encrypt("secret");

        Assert.Matches("^\\$5\\$[0-9a-f]{16}\\$[0-9a-f]{64}$", first);
        Assert.NotEqual(first, second);
        Assert.True(AdminPassword.Matches("secret", first));
        Assert.True(AdminPassword.Matches("secret", second));
        Assert.False(AdminPassword.Matches("secret2", first));
    }

    [Theory]
    [InlineData("plain-password")]
    [InlineData("$5$not-hex-salt!!$4286270e8eb72695b5b8e5a58a65714c860ab83240201a03d0454dad53c85d92")]
    [InlineData("$5$82c6648bb1286dbf")]
    public void A_value_not_of_that_form_is_the_password_itself(string configured)
    {
        Assert.True(AdminPassword.Matches(configured, configured));
        Assert.False(AdminPassword.Matches(configured + "x", configured));
    }

    [Fact]
    public void An_empty_stored_password_admits_no_one_not_even_an_empty_password()
    {
        Assert.False(AdminPassword.Matches(string.Empty, string.Empty));
        Assert.False(AdminPassword.Matches("anything", string.Empty));
    }
}
