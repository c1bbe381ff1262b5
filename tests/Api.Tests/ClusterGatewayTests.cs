using System.Diagnostics;
using System.Net.Http.Json;
using Agents.Api.Hosting;
using Agents.Events;
using Agents.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Agents.Api.Tests;

/// <summary>
/// A gateway in cluster mode (an Orleans client) in front of two silo processes on PostgreSQL. The silo hosting a
/// watched conversation is killed: the watch keeps going, or a reconnect with the last seq recovers, and the
/// client sees every event once, in order, through the run's end.
/// </summary>
public sealed class ClusterGatewayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AWatch_RidesThroughTheDeathOfTheSiloHostingItsConversation()
    {
        await using var postgres = new PostgresServer();
        var connectionString = await postgres.CreateDatabaseAsync("gateway", Ct);
        var clusterId = $"gw-{Guid.NewGuid():N}";
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = clusterId,
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Llm__DemoTokensPerSecond"] = "10",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        await StartSilo(settings, "migrate").WaitForExitAsync(Ct);

        var silos = new Dictionary<int, Process>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var siloPort = FreePort();
                silos[siloPort] = StartSilo(new Dictionary<string, string>(settings)
                {
                    ["Orleans__SiloPort"] = siloPort.ToString(),
                    ["Orleans__GatewayPort"] = FreePort().ToString(),
                });
            }

            await using var gateway = AgentApi.Build(
                [$"--contentRoot={Path.Combine(TestEnvironment.RepositoryRoot, "src", "Api")}"],
                builder =>
                {
                    builder.WebHost.UseUrls("http://127.0.0.1:0");
                    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                    {
                        ["Orleans:Mode"] = "Cluster",
                        ["Orleans:ClusterId"] = clusterId,
                        ["Storage:Provider"] = "Postgres",
                        ["ConnectionStrings:Agents"] = connectionString,
                        // Off by default in a cluster; this test mints its own tokens.
                        ["Auth:DevTokens"] = "true",
                        ["Auth:SigningKey"] = Convert.ToBase64String(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray()),
                        ["Logging:LogLevel:Default"] = "Warning",
                    });
                    builder.Logging.SetMinimumLevel(LogLevel.Warning);
                });
            await gateway.StartAsync(Ct);
            var management = gateway.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            await EventuallyAsync(async () => (await management.GetHosts(onlyActive: true)).Count == 2, "two active silos");

            var baseAddress = new Uri(gateway.Urls.Single());
            using var http = new HttpClient { BaseAddress = baseAddress };
            var token = (await (await http.PostAsJsonAsync("/api/dev/token", new { user = "alice" }, Ct)).Content.ReadFromJsonAsync<TokenResponse>(Ct))!.Token;
            await using var hub = new HubConnectionBuilder()
                .WithUrl(new Uri(baseAddress, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
                .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
                .Build();
            await hub.StartAsync(Ct);
            var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: "Tell me a story"), Ct);

            var received = new List<EventEnvelope>();
            var watch = EventRecorder.Start(hub, info.Id);
            await watch.WaitForTypeAsync(EventTypes.MessageDelta);

            var host = (await management.GetDetailedGrainStatistics(null, null, Ct)).Single(s => s.GrainId.Key.ToString() == info.Id).SiloAddress;
            var victim = silos[host.Endpoint.Port];
            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync(Ct);

            // Keep watching; if the watch ends with an error, come back with the last seq seen, as clients do.
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await watch.WaitForAsync(e => EventTypes.IsTerminal(e.Type), TimeSpan.FromSeconds(60) - deadline.Elapsed, "the end of the run");
                    received.AddRange(watch.Events);
                    break;
                }
                catch (InvalidOperationException) when (watch.Ended && deadline.Elapsed < TimeSpan.FromSeconds(60))
                {
                    received.AddRange(watch.Events);
                    await watch.DisposeAsync();
                    watch = EventRecorder.Start(hub, info.Id, received.Count == 0 ? 0 : received[^1].Seq);
                }
            }

            await watch.DisposeAsync();
            Assert.Equal(Enumerable.Range(1, received.Count).Select(i => (long)i), received.Select(e => e.Seq));
            Assert.Contains(received, e => e.Type == EventTypes.RunResumed);
            Assert.Equal(EventTypes.RunCompleted, received[^1].Type);
            var messages = received.Select(e => e.Data).OfType<AssistantMessageCompleted>().ToList();
            var final = Assert.Single(messages);
            Assert.Equal(
                final.Text,
                string.Concat(received.Select(e => e.Data).OfType<MessageDeltaStreamed>().Where(d => d.MessageId == final.MessageId).Select(d => d.Text)));
            await gateway.StopAsync(Ct);
        }
        finally
        {
            foreach (var silo in silos.Values)
            {
                if (!silo.HasExited)
                {
                    silo.Kill(entireProcessTree: true);
                }

                silo.Dispose();
            }
        }
    }

    private static Process StartSilo(IReadOnlyDictionary<string, string> settings, params string[] args)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        var silo = Path.Combine(TestEnvironment.RepositoryRoot, "src", "Silo", "bin", configuration, "net10.0", "Agents.Silo.dll");
        var info = new ProcessStartInfo("dotnet", [silo, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePort() => TestEnvironment.FreePort();

    private static async Task EventuallyAsync(Func<Task<bool>> probe, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await probe())
        {
            if (stopwatch.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(200, Ct);
        }
    }

    private sealed record TokenResponse(string Token);
}
