using Agents.Events;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Grains.Tests;

/// <summary>
/// Token budgets in a silo of their own (the Demo model reports usage on every call): per run, and per user per UTC
/// day counted in the store, so a restart of the silo forgets nothing.
/// </summary>
public sealed class BudgetTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ARunThatReachesItsBudget_FailsAfterTheCallInFlight_WithoutRunningTheToolsItAskedFor()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        var settings = new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "0", ["Agent__MaxTokensPerRun"] = "1" };
        await using var silo = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        using var client = await silo.ConnectAsync(Ct);
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var id = Ids.NewConversationId();

        await grains.GetGrain<IConversationGrain>(id).CreateAsync("budget-run", new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
        var events = await store.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var failed = Assert.IsType<RunFailed>(events[^1].Data);
        Assert.Equal("budget_exceeded", failed.Error.Code);
        // One model call, whose usage is recorded and is the run's; the tool it asked for was settled, not run.
        var usages = LogInvariants.CallUsages(events);
        Assert.Equal(usages.Single(), failed.Usage);
        Assert.Equal(["message.user", "run.started", "progress", "tool.call", "tool.result", "run.failed"], LogInvariants.Shape(events));
        Assert.Equal("budget_exceeded", events.Select(e => e.Data).OfType<ToolResultReturned>().Single().Error?.Code);
    }

    [Fact]
    public async Task AUsersDailyBudget_CountsInTheStore_RefusesSendsWithTheReset_AndHoldsAcrossARestart()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        var settings = new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "0", ["Agent__MaxTokensPerUserPerDay"] = "1" };
        var id = Ids.NewConversationId();
        const string spender = "budget-day";

        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            await grains.GetGrain<IConversationGrain>(id).CreateAsync(spender, new CreateConversation(Text: "Hello there"), Ct);
            var events = await store.WaitForEndAsync(id);
            var spent = LogInvariants.Spent(events);

            var usage = await grains.GetGrain<IConversationDirectoryGrain>(0).GetUsageAsync(spender, Ct);
            Assert.Equal(spent, usage.Today);
            Assert.Equal(1, usage.Limit);
            Assert.Equal(DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1), usage.ResetsAt.UtcDateTime);

            var refused = await Assert.ThrowsAsync<ConversationException>(() =>
                grains.GetGrain<IConversationGrain>(id).SendMessageAsync(spender, new SendMessage("One more?"), Ct));
            Assert.Equal(ErrorCodes.RateLimited, refused.Code);
            Assert.Contains("resets at", refused.Message);
            Assert.Equal(events.Count, (await store.ReadAllAsync(id)).Count);
            await client.StopAsync(CancellationToken.None);
        }

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        using var again = await second.ConnectAsync(Ct);
        var restarted = again.Services.GetRequiredService<IClusterClient>();
        Assert.Equal(ErrorCodes.RateLimited, (await Assert.ThrowsAsync<ConversationException>(() =>
            restarted.GetGrain<IConversationGrain>(Ids.NewConversationId()).CreateAsync(spender, new CreateConversation(Text: "Hi again"), Ct))).Code);
        // Another user's day is their own.
        var other = Ids.NewConversationId();
        await restarted.GetGrain<IConversationGrain>(other).CreateAsync("budget-other", new CreateConversation(Text: "Hello there"), Ct);
        Assert.Equal(EventTypes.RunCompleted, (await store.WaitForEndAsync(other))[^1].Type);
    }

    [Fact]
    public async Task UsageFromBeforeARestart_CountsTowardTheRunsBudget()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();
        TokenUsage spent;
        string requestId;

        // No budget yet: the dinner spends two model calls and waits for the approval; then the silo dies.
        await using (var first = SiloProcess.Start(directory, new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "0" }, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            await client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id)
                .CreateAsync("budget-restart", new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
            var upToRequest = await store.WaitForAsync(id, e => e.Type == EventTypes.InputRequested);
            requestId = ((InputRequested)upToRequest[^1].Data).RequestId;
            spent = LogInvariants.Spent(upToRequest);
            await first.KillAsync();
            await client.StopAsync(CancellationToken.None);
        }

        // Restarted with a budget the calls before the kill already spent: the approved reservation is not run.
        var budget = new Dictionary<string, string>
        {
            ["Llm__DemoTokensPerSecond"] = "0",
            ["Agent__MaxTokensPerRun"] = (spent.InputTokens + spent.OutputTokens).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var second = SiloProcess.Start(directory, budget, TestEnvironment.FreePort());
        using var again = await second.ConnectAsync(Ct);
        await again.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id)
            .RespondAsync("budget-restart", new Respond(requestId, Approved: true), Ct);
        var events = await store.WaitForEndAsync(id, TimeSpan.FromSeconds(30));

        LogInvariants.AssertHold(events);
        var failed = Assert.IsType<RunFailed>(events[^1].Data);
        Assert.Equal("budget_exceeded", failed.Error.Code);
        Assert.Equal(spent, failed.Usage);
        Assert.Equal("budget_exceeded", events.Select(e => e.Data).OfType<ToolResultReturned>().Last().Error?.Code);
    }

    [Fact]
    public async Task InAPostgresCluster_AUsersSpentDay_IsSpentOnEverySilo()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("budget", Ct);
        var clusterId = $"budget-{Guid.NewGuid():N}";
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = clusterId,
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["Llm__DemoTokensPerSecond"] = "0",
            ["Agent__MaxTokensPerUserPerDay"] = "1",
        };
        await SiloProcess.MigrateAsync(settings, Ct);
        var directory = TestEnvironment.NewTempDirectory();
        var gateways = new[] { TestEnvironment.FreePort(), TestEnvironment.FreePort() };
        var silos = gateways.Select(port => SiloProcess.Start(directory, settings, port)).ToList();
        try
        {
            using var client = await SiloProcess.ConnectAsync(gateways, clusterId, Ct);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var first = Ids.NewConversationId();
            await grains.GetGrain<IConversationGrain>(first).CreateAsync("budget-cluster", new CreateConversation(Text: "Hello there"), Ct);
            await TestEnvironment.EventuallyAsync(
                async () => (await grains.GetGrain<IConversationGrain>(first).GetInfoAsync("budget-cluster", Ct)).Status == ConversationStatus.Idle ? "idle" : null,
                TimeSpan.FromSeconds(30),
                "the first run's end");

            // Conversations land on either silo: every one of them refuses, since the day is counted in the store.
            for (var i = 0; i < 6; i++)
            {
                var refused = await Assert.ThrowsAsync<ConversationException>(() =>
                    grains.GetGrain<IConversationGrain>(Ids.NewConversationId()).CreateAsync("budget-cluster", new CreateConversation(Text: "More?"), Ct));
                Assert.Equal(ErrorCodes.RateLimited, refused.Code);
            }

            var usage = await grains.GetGrain<IConversationDirectoryGrain>(0).GetUsageAsync("budget-cluster", Ct);
            Assert.True(usage.Today.InputTokens + usage.Today.OutputTokens >= 1);
            await client.StopAsync(CancellationToken.None);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }
}
