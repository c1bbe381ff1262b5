using Agents.Events;
using Agents.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Agents.Grains.Tests;

/// <summary>
/// Three silo processes on PostgreSQL; one is killed (SIGKILL) while it hosts running conversations; their runs
/// resume on the survivors by themselves (ResumeUnfinishedRuns, woken by the death), and every log stays gapless and
/// complete.
/// </summary>
public sealed class ClusterFailoverTests(PostgresFixture postgres)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KilledSilo_ItsRunsResumeOnTheSurvivors_WithoutGapsOrDuplicates()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("failover", Ct);
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = $"failover-{Guid.NewGuid():N}",
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Llm__DemoTokensPerSecond"] = "8",
            // No periodic sweep and no reminders within the test's time, and nobody calls the conversations after
            // the kill: only the survivors' wake on the silo's death can bring its runs back.
            ["Orleans__ResumeSweepPeriod"] = "01:00:00",
        };
        await SiloProcess.MigrateAsync(settings, Ct);

        var gateways = Enumerable.Range(0, 3).Select(_ => TestEnvironment.FreePort()).ToArray();
        var silos = gateways.Select(port => SiloProcess.Start(directory, settings, port)).ToList();
        try
        {
            using var client = await SiloProcess.ConnectAsync(gateways, settings["Orleans__ClusterId"], Ct);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var management = grains.GetGrain<IManagementGrain>(0);
            await TestEnvironment.EventuallyAsync(
                async () => (await management.GetHosts(onlyActive: true)).Count == 3 ? "" : null, TimeSpan.FromSeconds(60), "three active silos");

            var store = new PostgresEventStore(
                Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString }),
                NullLogger<PostgresEventStore>.Instance);
            var ids = Enumerable.Range(0, 18).Select(_ => Ids.NewConversationId()).ToList();
            await Task.WhenAll(ids.Select(id => grains.GetGrain<IConversationGrain>(id).CreateAsync(Alice, new CreateConversation(Text: "Tell me a story"), Ct)));
            foreach (var id in ids)
            {
                await store.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);
            }

            // Kill the silo that hosts the most of them.
            var placements = (await management.GetDetailedGrainStatistics(null, null, Ct))
                .Where(s => ids.Contains(s.GrainId.Key.ToString()!))
                .ToLookup(s => s.SiloAddress.Endpoint.Port);
            var victimPort = placements.OrderByDescending(g => g.Count()).First().Key;
            var onVictim = placements[victimPort].Select(s => s.GrainId.Key.ToString()!).ToHashSet();
            var victim = silos[Array.IndexOf(gateways, await GatewayPortOfAsync(management, victimPort))];
            var killedAt = DateTimeOffset.UtcNow;
            await victim.KillAsync();

            var resumeDelays = new List<TimeSpan>();
            foreach (var id in ids)
            {
                var events = await store.WaitForEndAsync(id, TimeSpan.FromSeconds(90));
                LogInvariants.AssertHold(events);
                Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
                var resumed = events.FirstOrDefault(e => e.Type == EventTypes.RunResumed);
                if (onVictim.Contains(id))
                {
                    Assert.NotNull(resumed);
                    resumeDelays.Add(resumed.At - killedAt);
                }
            }

            Assert.NotEmpty(onVictim);
            TestContext.Current.SendDiagnosticMessage(
                $"{onVictim.Count} runs resumed after the kill; slowest after {resumeDelays.Max().TotalSeconds:0.0} s, median {resumeDelays.Order().ElementAt(resumeDelays.Count / 2).TotalSeconds:0.0} s");
            TestContext.Current.TestOutputHelper?.WriteLine($"failover: {onVictim.Count} runs resumed, slowest {resumeDelays.Max().TotalSeconds:0.0} s after the kill");
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TheWholeClusterStoppedHardMidRun_ResumesAndCompletesTheRuns_WhenStartedAgain()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("restart", Ct);
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = $"restart-{Guid.NewGuid():N}",
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Llm__DemoTokensPerSecond"] = "15",
            ["Llm__DemoToolLatency"] = "00:00:02",
            ["Agent__RequireApproval__0"] = "",
        };
        await SiloProcess.MigrateAsync(settings, Ct);
        var store = new PostgresEventStore(
            Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString }),
            NullLogger<PostgresEventStore>.Instance);

        var ids = Enumerable.Range(0, 6).Select(_ => Ids.NewConversationId()).ToList();
        var gateways = new[] { TestEnvironment.FreePort(), TestEnvironment.FreePort() };
        var first = gateways.Select(port => SiloProcess.Start(directory, settings, port)).ToList();
        try
        {
            using var client = await SiloProcess.ConnectAsync(gateways, settings["Orleans__ClusterId"], Ct);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            await Task.WhenAll(ids.Select(id => grains.GetGrain<IConversationGrain>(id).CreateAsync(Alice, new CreateConversation(Text: "Order dinner for two"), Ct)));
            // All at once: waiting for them one by one on a loaded machine let the first finish before the kill.
            await Task.WhenAll(ids.Select(id => store.WaitForAsync(id, e => e.Type == EventTypes.ToolResult)));

            foreach (var silo in first)
            {
                await silo.KillAsync();
            }

            await client.StopAsync(CancellationToken.None);
        }
        finally
        {
            foreach (var silo in first)
            {
                await silo.DisposeAsync();
            }
        }

        var unfinished = await store.ListRunningAsync(Ct);
        Assert.Equal(ids.Order(), unfinished.Where(ids.Contains).Order());

        // A new cluster on the same database, and no client at all: the startup task resumes every run.
        var second = gateways.Select(_ => SiloProcess.Start(directory, settings, TestEnvironment.FreePort())).ToList();
        try
        {
            foreach (var id in ids)
            {
                var events = await store.WaitForEndAsync(id, TimeSpan.FromSeconds(90));
                LogInvariants.AssertHold(events);
                Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
                Assert.Contains(events, e => e.Type == EventTypes.RunResumed);
                Assert.Single(events, e => e.Data is ToolCalled { Name: var n } && n.EndsWith("make_reservation", StringComparison.Ordinal));
            }
        }
        finally
        {
            foreach (var silo in second)
            {
                await silo.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task KilledSiloOfTheParent_MidFanOut_EveryChildCompletesOnce_AndTheParentJoinsThem()
    {
        await using var model = await FakeOpenAI.FakeOpenAIServer.StartAsync(cancellationToken: Ct);
        var connectionString = await postgres.Server.CreateDatabaseAsync("fanout", Ct);
        var settings = FanOutScripts.Settings(model);
        settings["Orleans__Mode"] = "Cluster";
        settings["Orleans__ClusterId"] = $"fanout-{Guid.NewGuid():N}";
        settings["Storage__Provider"] = "Postgres";
        settings["ConnectionStrings__Agents"] = connectionString;
        await SiloProcess.MigrateAsync(settings, Ct);
        var store = new PostgresEventStore(
            Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString }),
            NullLogger<PostgresEventStore>.Instance);

        var directory = TestEnvironment.NewTempDirectory();
        var gateways = Enumerable.Range(0, 3).Select(_ => TestEnvironment.FreePort()).ToArray();
        var silos = gateways.Select(port => SiloProcess.Start(directory, settings, port)).ToList();
        try
        {
            using var client = await SiloProcess.ConnectAsync(gateways, settings["Orleans__ClusterId"], Ct);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var management = grains.GetGrain<IManagementGrain>(0);
            await TestEnvironment.EventuallyAsync(
                async () => (await management.GetHosts(onlyActive: true)).Count == 3 ? "" : null, TimeSpan.FromSeconds(60), "three active silos");

            var id = Ids.NewConversationId();
            await grains.GetGrain<IConversationGrain>(id).CreateAsync(Alice, new CreateConversation(Text: FanOutScripts.Parent(model, 3)), Ct);
            var started = await store.WaitForAsync(id, e => e.Data is SubagentStarted { Title: "Part 3" }, TimeSpan.FromSeconds(30));
            foreach (var child in started.Select(e => e.Data).OfType<SubagentStarted>())
            {
                await store.WaitForAsync(child.ChildId, e => e.Type == EventTypes.MessageDelta, TimeSpan.FromSeconds(30));
            }

            // Kill the silo that hosts the parent, wherever its children are.
            var parentPort = (await management.GetDetailedGrainStatistics(null, null, Ct))
                .Single(s => s.GrainId.Key.ToString() == id).SiloAddress.Endpoint.Port;
            await silos[Array.IndexOf(gateways, await GatewayPortOfAsync(management, parentPort))].KillAsync();

            var events = await store.WaitForEndAsync(id, TimeSpan.FromSeconds(90));
            await FanOutScripts.AssertEveryChildOnceAsync(store, events, 3);
            Assert.Contains(events, e => e.Type == EventTypes.RunResumed);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static async Task<int> GatewayPortOfAsync(IManagementGrain management, int siloPort)
    {
        var details = await management.GetDetailedHosts(onlyActive: true);
        return details.Single(d => d.SiloAddress.Endpoint.Port == siloPort).ProxyPort;
    }

}
