using System.Text.Json;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Tests.Shared;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// What the container image and the service units run. There is no container engine here, so the test publishes the
/// server and turnadmin exactly as docker/Dockerfile does and runs that output as the image would; the compose file
/// and the Kubernetes manifest are read with a real YAML parser (Debian's python3-yaml) and checked for what matters.
/// </summary>
public sealed class DeploymentTests : IDisposable
{
    private static readonly string Root = RepositoryRoot.Path;
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-publish-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_published_output_the_image_runs_starts_answers_and_stops_cleanly_on_sigterm()
    {
        string dockerfile = File.ReadAllText(Path.Combine(Root, "docker", "Dockerfile"));
        string app = Path.Combine(_directory, "app");
        foreach (string project in new[] { "src/TurnServer", "src/TurnServer.Admin" })
        {
            Assert.Contains($"dotnet publish {project} -c Release -o /app", dockerfile, StringComparison.Ordinal);
            // The build's bin and obj go to the temporary directory, not the checkout, and no MSBuild node or compiler
            // server is left running after the test.
            ToolResult published = await ExternalProcess.RunAsync(
                Dotnet,
                ["publish", Path.Combine(Root, project), "-c", "Release", "-o", app, "--artifacts-path", Path.Combine(_directory, "artifacts"), "--disable-build-servers", "--nologo"],
                TimeSpan.FromMinutes(8));
            Assert.True(published.ExitCode == 0, published.Output);
        }

        Assert.Contains("ENTRYPOINT [\"/opt/turnserver/turnserver\"]", dockerfile, StringComparison.Ordinal);
        string config = DaemonProcess.WriteConfig(_directory, File.ReadAllText(Path.Combine(Root, "conf", "turnserver.conf")));
        (DaemonProcess server, int port) = await DaemonProcess.StartOnFreePortAsync(p =>
            DaemonProcess.StartPublished(Path.Combine(app, "turnserver"), "-c", config, "--listening-ip=127.0.0.1", "--listening-port=" + DaemonProcess.PortText(p), "--log-file=stdout"));
        using DaemonProcess _ = server;
        Assert.Contains("User 'demo' has the password of the shipped sample config", server.Output, StringComparison.Ordinal);
        using (var client = new StunUdpClient(DaemonProcess.Loopback(port), "demo", "change-me"))
        {
            Assert.Equal(0, StunUdpClient.Code(await client.RequestAsync(StunMethod.Binding)));
        }

        ToolResult key = await ExternalProcess.RunAsync(Path.Combine(app, "turnadmin"), ["-k", "-u", "demo", "-r", "turnserver.local", "-p", "change-me"], TimeSpan.FromSeconds(60));
        Assert.Equal("0x" + Convert.ToHexStringLower(MessageIntegrity.ComputeLongTermKey("demo", "turnserver.local", "change-me")), key.Output.Trim());

        Assert.Equal(0, await server.TerminateAsync());
    }

    [Fact]
    public async Task Compose_uses_host_networking_and_the_kubernetes_manifest_holds_a_daemonset_configmap_and_secret()
    {
        JsonElement compose = Assert.Single(await ReadYamlAsync(Path.Combine(Root, "docker", "docker-compose.yml")));
        JsonElement service = compose.GetProperty("services").GetProperty("turnserver");
        Assert.Equal("host", service.GetProperty("network_mode").GetString());
        Assert.Equal("docker/Dockerfile", service.GetProperty("build").GetProperty("dockerfile").GetString());
        await AssertHealthcheckPassesAsync([.. service.GetProperty("healthcheck").GetProperty("test").EnumerateArray().Select(e => e.GetString()!)]);

        List<JsonElement> documents = await ReadYamlAsync(Path.Combine(Root, "docker", "kubernetes", "turnserver.yaml"));
        JsonElement Kind(string kind) => Assert.Single(documents, d => d.GetProperty("kind").GetString() == kind);
        JsonElement pod = Kind("DaemonSet").GetProperty("spec").GetProperty("template").GetProperty("spec");
        Assert.True(pod.GetProperty("hostNetwork").GetBoolean());
        Assert.False(pod.GetProperty("enableServiceLinks").GetBoolean());
        JsonElement container = Assert.Single(pod.GetProperty("containers").EnumerateArray());
        Assert.Equal("/healthz", container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Contains("kill -USR1 1", container.GetProperty("lifecycle").GetProperty("preStop").GetProperty("exec").GetProperty("command")[2].GetString(), StringComparison.Ordinal);
        JsonElement secretEnv = Assert.Single(container.GetProperty("env").EnumerateArray(), e => e.GetProperty("name").GetString() == "TURNSERVER_STATIC_AUTH_SECRET");
        string secretKey = secretEnv.GetProperty("valueFrom").GetProperty("secretKeyRef").GetProperty("key").GetString()!;
        string secret = Kind("Secret").GetProperty("stringData").GetProperty(secretKey).GetString()!;

        // The ConfigMap's turnserver.conf with the Secret in the environment, as the pod reads them, is a valid configuration.
        string conf = Kind("ConfigMap").GetProperty("data").GetProperty("turnserver.conf").GetString()!;
        string confFile = DaemonProcess.WriteConfig(_directory, conf);
        TurnServerConfigLoadResult loaded = TurnServerConfigLoader.Load(["-c", confFile], new Dictionary<string, string?> { ["TURNSERVER_STATIC_AUTH_SECRET"] = secret }, () => []);
        Assert.Empty(loaded.Errors);
        Assert.Equal([secret], loaded.Settings!.StaticAuthSecrets);
        Assert.True(loaded.Settings.Prometheus);
        Assert.Equal(9641, container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("port").GetInt32());

        // The image's binary has a file capability (setcap in the Dockerfile): the kernel refuses to execute it when
        // the container's bounding set lacks that capability.
        Assert.Contains("setcap cap_net_bind_service=+ep", File.ReadAllText(Path.Combine(Root, "docker", "Dockerfile")), StringComparison.Ordinal);
        JsonElement capabilities = container.GetProperty("securityContext").GetProperty("capabilities");
        Assert.Contains("NET_BIND_SERVICE", capabilities.GetProperty("add").EnumerateArray().Select(e => e.GetString()));
    }

    /// <summary>
    /// Runs the compose healthcheck as Docker would (exec form, in the image, where sh is dash) against a server whose
    /// metrics listener stands in for 127.0.0.1:9641.
    /// </summary>
    private static async Task AssertHealthcheckPassesAsync(string[] test)
    {
        Assert.Equal("CMD", test[0]);
        await using TestServer server = await TestServer.StartAsync("--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=0");
        string[] command = [.. test[1..].Select(a => a.Replace("127.0.0.1/9641", "127.0.0.1/" + server.MetricsBase.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))];
        Assert.Contains(command, a => a.Contains("/healthz", StringComparison.Ordinal) && a.Contains("/" + server.MetricsBase.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        ToolResult result = await ExternalProcess.RunAsync(command[0], command[1..], TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, "healthcheck failed: " + result.Output);
    }

    [Fact]
    public void The_systemd_unit_waits_for_readiness_reloads_with_sighup_and_does_not_restart_on_a_configuration_error()
    {
        string[] unit = File.ReadAllLines(Path.Combine(Root, "conf", "turnserver.service"));
        Assert.Contains("Type=notify", unit);
        Assert.Contains("ExecReload=/bin/kill -HUP $MAINPID", unit);
        Assert.Contains("RestartPreventExitStatus=" + ExitCodes.Configuration.ToString(System.Globalization.CultureInfo.InvariantCulture), unit);
        Assert.Contains(unit, l => l.StartsWith("ExecStart=/opt/turnserver/turnserver -c ", StringComparison.Ordinal));
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    /// <summary>Every document of a YAML file, as JSON, through Debian's python3-yaml.</summary>
    private static async Task<List<JsonElement>> ReadYamlAsync(string path)
    {
        ToolResult result = await ExternalProcess.RunAsync(
            "/usr/bin/python3", // Debian's, with python3-yaml, whatever else is first on PATH
            ["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", path],
            TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, "python3-yaml is needed (.ci/run installs it): " + result.Output);
        return [.. JsonDocument.Parse(result.Output).RootElement.EnumerateArray()];
    }
}
