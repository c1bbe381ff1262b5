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
/// Chaos on a cluster: a gateway in cluster mode (an Orleans client) in front of three silo processes on
/// PostgreSQL, twenty Demo runs in flight, each watched by its own SignalR client; the silo hosting most of them
/// is killed. Every run completes, each watch (or its reconnect with the last seq) sees every event once, in
/// order, and no reservation ran twice.
/// </summary>
public sealed class ClusterGatewayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KillingTheSiloThatHostsMostRuns_EveryRunCompletes_AndEveryWatcherSeesEachSeqOnce()
    {
        const int runs = 20;
        await using var postgres = new PostgresServer();
        var connectionString = await postgres.CreateDatabaseAsync("chaos", Ct);
        var clusterId = $"chaos-{Guid.NewGuid():N}";
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = clusterId,
            // AGENTS_FAILURE_DETECTION=Default measures Orleans' own membership settings instead of ours.
            ["Orleans__FailureDetection"] = Environment.GetEnvironmentVariable("AGENTS_FAILURE_DETECTION") ?? "Fast",
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            // Slow enough that runs are still going when the kill comes: on a loaded machine the wait for twenty
            // watchers and the placement query once outlasted the rest of a run at 15 tokens/s.
            ["Llm__DemoTokensPerSecond"] = "8",
            ["Llm__DemoToolLatency"] = "00:00:01",
            // No approvals: the reservation runs by itself, so a kill can land in the middle of it.
            ["Agent__RequireApproval__0"] = "",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        await SiloProcess.MigrateAsync(settings, Ct);

        var directory = TestEnvironment.NewTempDirectory();
        var silos = new Dictionary<int, SiloProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var silo = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
                silos[silo.SiloPort] = silo;
            }

            await using var gateway = TestApp.Build(new Dictionary<string, string?>
            {
                ["Orleans:Mode"] = "Cluster",
                ["Orleans:ClusterId"] = clusterId,
                ["Storage:Provider"] = "Postgres",
                ["ConnectionStrings:Agents"] = connectionString,
                // Off by default in a cluster; this test mints its own tokens.
                ["Auth:DevTokens"] = "true",
                ["Auth:AllowDevTokensInCluster"] = "true",
                ["Auth:SigningKey"] = TestEnvironment.NewSigningKey(),
            });
            await gateway.StartAsync(Ct);
            var management = gateway.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            await TestEnvironment.EventuallyAsync(async () => (await management.GetHosts(onlyActive: true)).Count == 3, TimeSpan.FromSeconds(60), "three active silos");

            var baseAddress = new Uri(gateway.Urls.Single());
            using var http = new HttpClient { BaseAddress = baseAddress };
            var token = await DevTokens.FetchAsync(http, "alice", Ct);
            var clients = new List<HubConnection>();
            for (var i = 0; i < runs; i++)
            {
                var hub = new HubConnectionBuilder()
                    .WithUrl(new Uri(baseAddress, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
                    .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
                    .Build();
                await hub.StartAsync(Ct);
                clients.Add(hub);
            }

            var ids = new List<string>();
            foreach (var hub in clients)
            {
                ids.Add((await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct)).Id);
            }

            var watchers = clients.Select((hub, i) => new Watcher(hub, ids[i])).ToList();
            await Task.WhenAll(watchers.Select(w => w.WaitForAsync(e => e.Type == EventTypes.ToolResult)));

            var placements = (await management.GetDetailedGrainStatistics(null, null, Ct))
                .Where(s => ids.Contains(s.GrainId.Key.ToString()!))
                .GroupBy(s => s.SiloAddress.Endpoint.Port)
                .OrderByDescending(g => g.Count())
                .First();
            var onVictim = placements.Select(s => s.GrainId.Key.ToString()!).ToHashSet();
            var killedAt = DateTimeOffset.UtcNow;
            await silos[placements.Key].KillAsync();

            var logs = await Task.WhenAll(watchers.Select(w => w.ToEndAsync(TimeSpan.FromSeconds(90))));
            var resumeDelays = new List<TimeSpan>();
            for (var i = 0; i < runs; i++)
            {
                var events = logs[i];
                Assert.Equal(Enumerable.Range(1, events.Count).Select(n => (long)n), events.Select(e => e.Seq));
                Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
                var reservations = events.Select(e => e.Data).OfType<ToolCalled>().Where(c => c.Name.EndsWith("make_reservation", StringComparison.Ordinal)).ToList();
                var reservation = Assert.Single(reservations);
                Assert.Single(events, e => e.Data is ToolResultReturned r && r.CallId == reservation.CallId);
                if (onVictim.Contains(ids[i]) && events.FirstOrDefault(e => e.Type == EventTypes.RunResumed) is { } resumed)
                {
                    resumeDelays.Add(resumed.At - killedAt);
                }
            }

            Assert.NotEmpty(resumeDelays);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"killed the silo hosting {onVictim.Count} of {runs} runs; {resumeDelays.Count} resumed, " +
                $"the slowest {resumeDelays.Max().TotalSeconds:0.0} s after the kill ({settings["Orleans__FailureDetection"]} failure detection)");

            foreach (var watcher in watchers)
            {
                await watcher.DisposeAsync();
            }

            foreach (var hub in clients)
            {
                await hub.DisposeAsync();
            }

            await gateway.StopAsync(Ct);
        }
        finally
        {
            foreach (var silo in silos.Values)
            {
                await silo.DisposeAsync();
            }
        }
    }

    /// <summary>A client watching one conversation that, like the web client, comes back with its last seq when its watch ends.</summary>
    private sealed class Watcher(HubConnection hub, string conversationId) : IAsyncDisposable
    {
        private readonly List<EventEnvelope> _earlier = [];
        private EventRecorder _current = EventRecorder.Start(hub, conversationId);

        public Task<EventEnvelope> WaitForAsync(Func<EventEnvelope, bool> predicate) => _current.WaitForAsync(predicate, TimeSpan.FromSeconds(60));

        public async Task<List<EventEnvelope>> ToEndAsync(TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await _current.WaitForAsync(e => EventTypes.IsTerminal(e.Type), timeout - deadline.Elapsed, "the end of the run");
                    return [.. _earlier, .. _current.Events];
                }
                catch (InvalidOperationException) when (_current.Ended && deadline.Elapsed < timeout)
                {
                    _earlier.AddRange(_current.Events);
                    await _current.DisposeAsync();
                    _current = EventRecorder.Start(hub, conversationId, _earlier.Count == 0 ? 0 : _earlier[^1].Seq);
                }
            }
        }

        public ValueTask DisposeAsync() => _current.DisposeAsync();
    }


}
