using Npgsql;

namespace TurnServer.UserDb.Tests;

public class PostgresConnectionStringTests
{
    [Fact]
    public void Libpq_keywords_with_quotes_and_escapes_become_npgsql_settings()
    {
        NpgsqlConnectionStringBuilder b = PostgresConnectionString.ToNpgsql(@"host=db.example port=6432 dbname=coturn user=turn password='a b\'c' connect_timeout=30 sslmode=require");

        Assert.Equal(("db.example", 6432, "coturn", "turn", "a b'c", 30, SslMode.Require), (b.Host, b.Port, b.Database, b.Username, b.Password, b.Timeout, b.SslMode));
    }

    [Fact]
    public void A_uri_is_read_too()
    {
        NpgsqlConnectionStringBuilder b = PostgresConnectionString.ToNpgsql("postgresql://turn:p%40ss@10.0.0.2:5433/coturn?sslmode=disable");

        Assert.Equal(("10.0.0.2", 5433, "coturn", "turn", "p@ss", SslMode.Disable), (b.Host, b.Port, b.Database, b.Username, b.Password, b.SslMode));
    }

    [Theory]
    [InlineData("host=x dbname")]
    [InlineData("host=x password='unterminated")]
    [InlineData("host=x fancy=1")]
    [InlineData("host=x sslmode=sometimes")]
    public void Bad_strings_are_refused(string conninfo) => Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql(conninfo));
}
