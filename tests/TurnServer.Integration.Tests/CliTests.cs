using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Core.Allocations;
using TurnServer.Hosting;
using TurnServer.Hosting.Cli;
using TurnServer.Hosting.Configuration;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// coTURN's telnet CLI (cli-ip, cli-port, cli-password): the password in the form Debian's turnadmin -P prints, the
/// session listing an operator reads, cancelling a session, and stopping the server.
/// </summary>
public sealed class CliTests
{
    private const string CliPassword = "cli-secret";

    [Fact]
    public async Task An_operator_logs_in_with_a_password_from_debians_turnadmin_lists_and_cancels_a_session()
    {
        string stored = (await DebianTurnadmin.RunAsync("-P", "-p", CliPassword)).Trim();
        Assert.StartsWith("$5$", stored, StringComparison.Ordinal);
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + stored);
        using var alice = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await alice.AllocateAsync();
        await alice.BindChannelAsync(0x4000, new TransportAddress(System.Net.IPAddress.Parse("127.0.0.1"), 9));

        using TelnetTestClient cli = await TelnetTestClient.ConnectAsync(CliPort(server));
        Assert.Contains("TURN Server\r\n", await cli.ReadUntilAsync("Enter password: \r\n"), StringComparison.Ordinal);
        await cli.SendAsync("not the password");
        await cli.ReadUntilAsync("Enter password: \r\n");
        await cli.SendAsync(CliPassword);
        await cli.ReadUntilAsync(CliSession.Prompt);

        await cli.SendAsync("ps " + TestServer.User);
        string sessions = await cli.ReadUntilAsync("Total sessions: 1\r\n\r\n> ");
        Assert.Contains("    1) id=000000000000000001, user <alice>:\r\n", sessions, StringComparison.Ordinal);
        Assert.Contains($"      client addr {TransportAddress.FromEndPoint(alice.LocalEndPoint)}, server addr {TransportAddress.FromEndPoint(server.UdpEndPoint)}\r\n", sessions, StringComparison.Ordinal);
        Assert.Contains($"      relay addr {relayed}\r\n", sessions, StringComparison.Ordinal);
        Assert.Contains("      client protocol UDP, relay protocol UDP\r\n", sessions, StringComparison.Ordinal);
        Assert.Contains("      peers:\r\n          127.0.0.1\r\n", sessions, StringComparison.Ordinal);

        await cli.SendAsync("ps bob");
        await cli.ReadUntilAsync("Total sessions: 0\r\n\r\n> ");
        await cli.SendAsync("pu udp");
        Assert.Contains("    user: <alice>, 1 sessions\r\n", await cli.ReadUntilAsync("Total sessions: 1\r\n\r\n> "), StringComparison.Ordinal);
        await cli.SendAsync("pu tls");
        await cli.ReadUntilAsync("Total sessions: 0\r\n\r\n> ");

        await cli.SendAsync("cs 1");
        await cli.ReadUntilAsync(CliSession.Prompt);
        (Allocation ended, AllocationEndReason reason) = await server.Events.NextEndAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((relayed, AllocationEndReason.Cancelled), (ended.RelayedTransportAddress, reason));
        Assert.Empty(server.Engine.Allocations.All);
        Assert.Equal(437, StunTestClient.Code(await alice.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 600))));

        await cli.SendAsync("tc stale-nonce");
        Assert.Contains("Not supported", await cli.ReadUntilAsync(CliSession.Prompt), StringComparison.Ordinal);
        await cli.SendAsync("quit");
        Assert.Equal("Bye !\r\n", await cli.ReadUntilAsync("\r\n"));
        Assert.True(await cli.ClosedByServerAsync());
    }

    [Fact]
    public async Task Five_wrong_passwords_close_the_connection_and_telnet_option_offers_are_refused()
    {
        ToolResult hashed = await Turnadmin.RunAsync("-P", "-p", CliPassword);
        Assert.Equal(0, hashed.ExitCode);
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + hashed.Output.Trim());

        using (TelnetTestClient guesser = await TelnetTestClient.ConnectAsync(CliPort(server)))
        {
            await guesser.ReadUntilAsync("Enter password: \r\n");
            await guesser.SendBytesAsync([255, 251, 31, 255, 253, 1]); // IAC WILL NAWS, IAC DO ECHO, as telnet clients open
            Assert.Equal("\xff\xfe\x1f\xff\xfc\x01", await guesser.ReadUntilAsync("\xff\xfc\x01")); // DONT NAWS, WONT ECHO
            await GuessUntilClosedAsync(guesser);
        }

        using TelnetTestClient admin = await TelnetTestClient.ConnectAsync(CliPort(server));
        await admin.ReadUntilAsync("Enter password: \r\n");
        await admin.SendAsync(CliPassword);
        await admin.ReadUntilAsync(CliSession.Prompt);
    }

    /// <summary>
    /// Reconnecting after each five wrong passwords does not make guessing fast: one address may send ten passwords a
    /// minute over all its connections, and then even the right one is refused and the connection closed.
    /// </summary>
    [Fact]
    public async Task Ten_passwords_a_minute_from_one_address_then_even_the_right_one_is_refused()
    {
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword);
        for (int connection = 0; connection < CliServer.PasswordTriesPerMinute / CliSession.PasswordTries; connection++)
        {
            using TelnetTestClient guesser = await TelnetTestClient.ConnectAsync(CliPort(server));
            await guesser.ReadUntilAsync("Enter password: \r\n");
            await GuessUntilClosedAsync(guesser);
        }

        using TelnetTestClient late = await TelnetTestClient.ConnectAsync(CliPort(server));
        await late.ReadUntilAsync("Enter password: \r\n");
        await late.SendAsync(CliPassword);
        Assert.Equal("Too many passwords from this address: wait a minute.\r\n", await late.ReadUntilAsync("\r\n"));
        Assert.True(await late.ClosedByServerAsync());
    }

    /// <summary>
    /// A cli-password replaced in turnserver.conf takes effect with the reload (SIGHUP applies the new settings): the
    /// old password no longer logs in, the new one does.
    /// </summary>
    [Fact]
    public async Task A_reloaded_cli_password_replaces_the_old_one()
    {
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword);
        TurnServerConfigLoadResult reloaded = TurnServerConfigLoader.Load(["--cli-port=0", "--cli-password=replacement", "--realm=" + TestServer.Realm], new Dictionary<string, string?>(), () => []);
        server.Host.Services.GetRequiredService<EngineConfigurator>().Apply(reloaded.Settings!);

        using (TelnetTestClient old = await TelnetTestClient.ConnectAsync(CliPort(server)))
        {
            await old.ReadUntilAsync("Enter password: \r\n");
            await old.SendAsync(CliPassword);
            await old.ReadUntilAsync("Enter password: \r\n"); // asked again: wrong
        }

        using TelnetTestClient cli = await TelnetTestClient.ConnectAsync(CliPort(server));
        await cli.ReadUntilAsync("Enter password: \r\n");
        await cli.SendAsync("replacement");
        await cli.ReadUntilAsync(CliSession.Prompt);
    }

    /// <summary>A plain cli-password (not turnadmin's hash) logs in too.</summary>
    [Fact]
    public async Task A_plain_cli_password_logs_in()
    {
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword);
        using TelnetTestClient cli = await TelnetTestClient.ConnectAsync(CliPort(server));
        await cli.ReadUntilAsync("Enter password: \r\n");
        await cli.SendAsync(CliPassword);
        await cli.ReadUntilAsync(CliSession.Prompt);
        await cli.SendAsync("pu");
        await cli.ReadUntilAsync("Total sessions: 0\r\n\r\n> ");
    }

    /// <summary>Sends wrong passwords, each answered with the prompt again, until the last try closes the connection.</summary>
    private static async Task GuessUntilClosedAsync(TelnetTestClient guesser)
    {
        for (int attempt = 1; attempt < CliSession.PasswordTries; attempt++)
        {
            await guesser.SendAsync("guess " + attempt.ToString(CultureInfo.InvariantCulture));
            await guesser.ReadUntilAsync("Enter password: \r\n");
        }

        await guesser.SendAsync("last guess");
        Assert.True(await guesser.ClosedByServerAsync());
    }

    /// <summary>
    /// Regression: blank lines neither counted as password tries nor let the 10-minute idle timer run out, so a client
    /// could hold every CLI connection without a password. Logged-in sessions keep the idle rule only.
    /// </summary>
    [Fact]
    public async Task A_connection_that_does_not_log_in_in_time_is_closed_whatever_it_sends()
    {
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword);
        CliServer cli = server.Host.Services.GetRequiredService<CliServer>();
        cli.LoginTimeout = TimeSpan.FromSeconds(2);

        using TelnetTestClient admin = await TelnetTestClient.ConnectAsync(cli.Port);
        await admin.ReadUntilAsync("Enter password: \r\n");
        await admin.SendAsync(CliPassword);
        await admin.ReadUntilAsync(CliSession.Prompt);

        using TelnetTestClient idler = await TelnetTestClient.ConnectAsync(cli.Port);
        await idler.ReadUntilAsync("Enter password: \r\n");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task blankLines = Task.Run(async () =>
        {
            for (int i = 0; i < 300; i++)
            {
                await idler.SendAsync(string.Empty);
                await Task.Delay(100, stop.Token);
            }
        });
        Assert.True(await idler.ClosedByServerAsync());
        // Still sending when the server closed the connection, so its next writes fail: the blank lines were coming
        // all along, and the close is what ended them.
        await Assert.ThrowsAsync<IOException>(() => blankLines.WaitAsync(TimeSpan.FromSeconds(10)));

        // Past the deadline, the session that logged in still answers.
        await admin.SendAsync("?");
        await admin.ReadUntilAsync(CliSession.Prompt);
    }

    [Fact]
    public async Task Stop_from_the_cli_stops_the_server()
    {
        await using TestServer server = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword);
        IHostApplicationLifetime lifetime = server.Host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource();
        using CancellationTokenRegistration registration = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());

        using TelnetTestClient cli = await TelnetTestClient.ConnectAsync(CliPort(server));
        await cli.ReadUntilAsync("Enter password: \r\n");
        await cli.SendAsync(CliPassword);
        await cli.ReadUntilAsync(CliSession.Prompt);
        Assert.False(stopping.Task.IsCompleted);
        await cli.SendAsync("stop");

        Assert.Equal("TURN server is shutting down\r\n", await cli.ReadUntilAsync("\r\n"));
        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Without_a_cli_password_or_with_no_cli_there_is_no_cli()
    {
        await using TestServer withoutPassword = await TestServer.StartAsync("--cli-port=0");
        Assert.Null(withoutPassword.Host.Services.GetService<CliServer>());
        await using TestServer turnedOff = await TestServer.StartAsync("--cli-port=0", "--cli-password=" + CliPassword, "--no-cli");
        Assert.Null(turnedOff.Host.Services.GetService<CliServer>());
    }

    private static int CliPort(TestServer server) => server.Host.Services.GetRequiredService<CliServer>().Port;
}
