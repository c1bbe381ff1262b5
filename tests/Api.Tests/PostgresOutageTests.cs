using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Agents.Api.Hosting;
using Agents.Events;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Storage;
using Agents.Grains.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Agents.Api.Tests;

/// <summary>
/// PostgreSQL goes down in the middle of runs (stopped at once, as a crash would) and comes back on the same data:
/// while it is down the node says it is not ready and shows nothing new; when it is back every run completes,
/// and each watching client has seen every stored event once, in order.
/// </summary>
public sealed class PostgresOutageTests
{
    private const int Conversations = 4;
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan InFlight = TimeSpan.FromSeconds(2);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PostgresDownShorterThanTheRetries_RunsPauseAndContinue_AndEachWatcherSeesEveryEventOnce()
    {
        var logs = await RunThroughOutageAsync(commitRetryBudget: TimeSpan.FromSeconds(30));

        // The writer's retries outlasted the outage: the runs simply went on where they stood.
        Assert.All(logs, events => Assert.DoesNotContain(events, e => e.Type is EventTypes.RunResumed or EventTypes.MessageInterrupted));
    }

    [Fact]
    public async Task PostgresDownLongerThanTheRetries_RunsResumeWhenItIsBack_WithoutAnyCall()
    {
        var logs = await RunThroughOutageAsync(commitRetryBudget: TimeSpan.FromSeconds(1));

        // The appends failed for good, the conversations dropped what they had not stored, and the silo's sweep
        // started them again from the log once the database answered.
        Assert.Contains(logs, events => events.Any(e => e.Type == EventTypes.RunResumed));
    }

    private static async Task<List<List<EventEnvelope>>> RunThroughOutageAsync(TimeSpan commitRetryBudget)
    {
        await using var postgres = new PostgresServer();
        var connectionString = await postgres.CreateDatabaseAsync("outage", Ct);
        var settings = TestApp.SingleNode("unused");
        settings["Storage:Provider"] = "Postgres";
        settings["ConnectionStrings:Agents"] = connectionString;
        settings["Storage:CommitRetryBudget"] = commitRetryBudget.ToString();
        settings["Orleans:ResumeSweepPeriod"] = "00:00:01";
        settings["Llm:DemoTokensPerSecond"] = "20";
        settings["Llm:DemoToolLatency"] = "00:00:00.300";
        // No approvals: the runs go on by themselves, through the outage.
        settings["Agent:RequireApproval:0"] = "";
        await using var app = TestApp.Build(settings);
        await app.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, await ReadinessAsync(http));

        var hub = await ConnectAsync(app, http);
        var watchers = new List<ResumingWatcher>();
        for (var i = 0; i < Conversations; i++)
        {
            var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
            watchers.Add(new ResumingWatcher(hub, info.Id));
        }

        // Every run is past its first tool and streaming when the database goes.
        await Task.WhenAll(watchers.Select(w => w.WaitForAsync(e => e.Type == EventTypes.ToolResult, TimeSpan.FromSeconds(30), "the search result")));
        var down = Stopwatch.StartNew();
        await postgres.StopAsync(Ct);

        var readiness = await EventuallyAsync(async () => await ReadinessAsync(http) == HttpStatusCode.ServiceUnavailable, Outage, "/readyz to fail");
        Assert.True(readiness, "/readyz kept answering 200 while the database was down");

        // A call that needs the database says so: 503 unavailable, never a 500 or a hung request.
        using (var list = new HttpRequestMessage(HttpMethod.Get, "/api/conversations"))
        {
            list.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await TokenAsync(http));
            using var refused = await http.SendAsync(list, Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains("\"code\":\"unavailable\"", await refused.Content.ReadAsStringAsync(Ct));
        }

        await Task.Delay(InFlight, Ct);
        var seenWhileDown = watchers.Select(w => w.Events.Count).ToList();
        var remaining = Outage - down.Elapsed;
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, Ct);
        }

        // Durable before visible: once what was stored before the stop has been delivered, nothing more shows.
        Assert.Equal(seenWhileDown, watchers.Select(w => w.Events.Count).ToList());
        await postgres.StartAsync(Ct);

        await Task.WhenAll(watchers.Select(w => w.WaitForAsync(e => EventTypes.IsTerminal(e.Type), TimeSpan.FromSeconds(60), "the end of the run")));
        Assert.True(await EventuallyAsync(async () => await ReadinessAsync(http) == HttpStatusCode.OK, TimeSpan.FromSeconds(20), "/readyz to recover"));

        await using var store = new PostgresEventStore(
            Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString }),
            NullLogger<PostgresEventStore>.Instance);
        var logs = new List<List<EventEnvelope>>();
        foreach (var watcher in watchers)
        {
            var stored = await store.ReadAllAsync(watcher.ConversationId);
            LogInvariants.AssertHold(stored);
            Assert.Equal(EventTypes.RunCompleted, stored[^1].Type);
            Assert.Single(stored, e => e.Data is ToolCalled c && c.Name.EndsWith(DemoPlugin.MakeReservation, StringComparison.Ordinal));

            // The client saw exactly the stored log: each seq once, in order, nothing that was not stored.
            var seen = watcher.Events;
            Assert.Equal(stored.Select(e => (e.Seq, e.Type)), seen.Select(e => (e.Seq, e.Type)));
            logs.Add(stored);
            await watcher.DisposeAsync();
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"outage {Outage.TotalSeconds:0} s, retry budget {commitRetryBudget.TotalSeconds:0} s: " +
            $"{logs.Count(l => l.Any(e => e.Type == EventTypes.RunResumed))} of {Conversations} runs resumed, " +
            $"{watchers.Sum(w => w.Rewatches)} rewatches");
        await hub.DisposeAsync();
        await app.StopAsync(Ct);
        return logs;
    }

    private static async Task<HubConnection> ConnectAsync(WebApplication app, HttpClient http)
    {
        var token = await TokenAsync(http);
        var hub = new HubConnectionBuilder()
            .WithUrl(new Uri(new Uri(app.Urls.Single()), "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
            .Build();
        await hub.StartAsync(Ct);
        return hub;
    }

    private static Task<string> TokenAsync(HttpClient http) => DevTokens.FetchAsync(http, TestEnvironment.NewUser("outage"), Ct);

    private static async Task<HttpStatusCode> ReadinessAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/readyz", Ct);
        return response.StatusCode;
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> probe, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await probe())
        {
            if (stopwatch.Elapsed > timeout)
            {
                TestContext.Current.TestOutputHelper?.WriteLine($"timed out after {timeout} waiting for {what}");
                return false;
            }

            await Task.Delay(100, Ct);
        }

        return true;
    }

}
