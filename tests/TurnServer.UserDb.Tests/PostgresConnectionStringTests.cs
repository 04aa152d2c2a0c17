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

    [Fact]
    public void Libpqs_tls_password_file_option_and_keepalive_keywords_become_their_npgsql_settings()
    {
        NpgsqlConnectionStringBuilder b = PostgresConnectionString.ToNpgsql(
            "host=db1,db2 dbname=coturn sslmode=verify-full sslrootcert=/etc/ca.pem sslcert=/etc/c.pem sslkey=/etc/c.key passfile=/etc/pgpass " +
            "options='-c statement_timeout=5000' target_session_attributes=read-write keepalives_idle=30");

        Assert.Equal(
            ("/etc/ca.pem", "/etc/c.pem", "/etc/c.key", "/etc/pgpass", "-c statement_timeout=5000", "read-write", 30),
            (b.RootCertificate, b.SslCertificate, b.SslKey, b.Passfile, b.Options, b.TargetSessionAttributes, b.TcpKeepAliveTime));
        Assert.Equal(0, b.KeepAlive); // libpq's keepalives are TCP ones, not Npgsql's keepalive queries
    }

    /// <summary>Npgsql takes target_session_attributes only with several hosts; libpq also checks a single one, which we cannot.</summary>
    [Fact]
    public void Target_session_attributes_with_one_host_are_refused()
    {
        Assert.Contains(
            "only supported with multiple hosts",
            Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql("host=db target_session_attributes=read-write")).Message,
            StringComparison.Ordinal);
        Assert.Equal("any", PostgresConnectionString.ToNpgsql("host=db target_session_attributes=any").TargetSessionAttributes);
    }

    [Theory]
    [InlineData("host=x dbname")]
    [InlineData("host=x password='unterminated")]
    [InlineData("host=x fancy=1")]
    [InlineData("host=x sslmode=sometimes")]
    public void Bad_strings_are_refused(string conninfo) => Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql(conninfo));

    /// <summary>Regression: an unquoted password with a blank in it was split, and the error quoted its tail.</summary>
    [Theory]
    [InlineData("host=db password=hunter2 tail", "a word without '=' at character 26")]
    [InlineData("host=db password=hunter2 tail dbname=coturn", "a keyword with a blank in it at character 26")]
    public void A_password_split_by_a_blank_is_refused_without_repeating_any_of_it(string conninfo, string message)
    {
        FormatException error = Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql(conninfo));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("tail", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Regression: these crashed the server and turnadmin with Npgsql's ArgumentOutOfRangeException or an OverflowException.</summary>
    [Theory]
    [InlineData("dbname=coturn port=99999999999", "'port' must be a number from 1 to 65535")]
    [InlineData("dbname=coturn port=0", "'port' must be a number from 1 to 65535")]
    [InlineData("dbname=coturn port=-1", "'port' must be a number from 1 to 65535")]
    [InlineData("dbname=coturn connect_timeout=2000", "'connect_timeout' must be a number from 0 to 1024")]
    [InlineData("dbname=coturn keepalives_idle=40000", "'keepalives_idle' must be a number from 0 to 32767")]
    [InlineData("postgresql://db/coturn?connect_timeout=99999999999", "'connect_timeout' must be a number from 0 to 1024")]
    public void Numbers_out_of_range_are_refused_with_the_range(string conninfo, string message) =>
        Assert.Equal(message, Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql(conninfo + " password=hunter2")).Message);

    /// <summary>Npgsql checks some settings only when a data source is built; they must fail here, where the configuration is read.</summary>
    [Fact]
    public void Settings_npgsql_refuses_when_it_builds_a_data_source_are_refused_here()
    {
        FormatException error = Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql("host=db:99999999999 dbname=coturn password=hunter2"));

        Assert.IsType<OverflowException>(error.InnerException);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>libpq's defaults from the environment; in a collection of its own, as it changes PGHOST and PGPORT for the process.</summary>
[Collection(nameof(PostgresEnvironmentTests))]
[CollectionDefinition(nameof(PostgresEnvironmentTests), DisableParallelization = true)]
public sealed class PostgresEnvironmentTests : IDisposable
{
    private readonly string? _host = Environment.GetEnvironmentVariable("PGHOST");
    private readonly string? _port = Environment.GetEnvironmentVariable("PGPORT");

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("PGHOST", _host);
        Environment.SetEnvironmentVariable("PGPORT", _port);
    }

    /// <summary>Regression: without host= the server and turnadmin crashed with Npgsql's "Host can't be null".</summary>
    [Fact]
    public void Without_a_host_libpqs_local_socket_directory_is_used()
    {
        Environment.SetEnvironmentVariable("PGHOST", null);
        Environment.SetEnvironmentVariable("PGPORT", null);

        NpgsqlConnectionStringBuilder b = PostgresConnectionString.ToNpgsql("dbname=coturn user=turn");
        NpgsqlConnectionStringBuilder empty = PostgresConnectionString.ToNpgsql("host='' dbname=coturn");

        Assert.Equal(("/var/run/postgresql", 5432), (b.Host, b.Port));
        Assert.Equal("/var/run/postgresql", empty.Host);
    }

    [Fact]
    public void Pghost_and_pgport_stand_in_for_a_missing_host_and_port_as_in_libpq()
    {
        Environment.SetEnvironmentVariable("PGHOST", "db.internal");
        Environment.SetEnvironmentVariable("PGPORT", "6543");

        NpgsqlConnectionStringBuilder b = PostgresConnectionString.ToNpgsql("dbname=coturn");
        NpgsqlConnectionStringBuilder given = PostgresConnectionString.ToNpgsql("host=10.0.0.9 port=5433 dbname=coturn");

        Assert.Equal(("db.internal", 6543), (b.Host, b.Port));
        Assert.Equal(("10.0.0.9", 5433), (given.Host, given.Port));
        Environment.SetEnvironmentVariable("PGPORT", "65536");
        Assert.Equal("'PGPORT' must be a number from 1 to 65535", Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql("dbname=coturn")).Message);
    }
}
