using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Agents.Api.Hosting;
using Agents.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Api.Tests;

/// <summary>The per-user rate limits and the cap on running conversations, on an app of their own with small limits.</summary>
public sealed class LimitsTests(LimitsTests.SmallLimits app) : IClassFixture<LimitsTests.SmallLimits>
{
    private static readonly JsonSerializerOptions Json = ApiJson.Options;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sends_OverTheBurst_Are429WithRetryAfter_AndTheHubSharesTheBudget()
    {
        var user = TestEnvironment.NewUser("chatty");
        using var http = await app.HttpAsAsync(user);
        await using var hub = await app.ConnectAsync(user);
        var info = await CreateAsync(http, new { title = "many messages" });

        for (var i = 0; i < SmallLimits.SendBurst; i++)
        {
            using var sent = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = $"message {i}" }, Ct);
            Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
        }

        using var refused = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "one too many" }, Ct);
        await AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "rate_limited");
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        // One send comes back every 60 s / SendsPerMinute.
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 60 / SmallLimits.SendsPerMinute);

        // The hub draws on the same budget: switching transport gives no more.
        var overHub = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<object>("SendMessage", info.Id, new SendMessage("over the hub"), Ct));
        Assert.Contains("rate_limited:", overHub.Message);
        Assert.Contains("retry after", overHub.Message);
        var log = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{info.Id}/events?limit=1000", Json, Ct))!;
        Assert.Equal(SmallLimits.SendBurst, log.Events.Count(e => e.Type == EventTypes.UserMessage));
    }

    [Fact]
    public async Task CreateConversation_OverTheHubBudget_IsRefusedOverHttpToo()
    {
        var user = TestEnvironment.NewUser("founder");
        using var http = await app.HttpAsAsync(user);
        await using var hub = await app.ConnectAsync(user);
        for (var i = 0; i < SmallLimits.ConversationBurst; i++)
        {
            await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: $"number {i}"), Ct);
        }

        Assert.Contains("rate_limited:", (await Assert.ThrowsAsync<HubException>(
            () => hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "one more"), Ct))).Message);
        using var refused = await http.PostAsJsonAsync("/api/conversations", new { title = "over http" }, Ct);
        await AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Equal(SmallLimits.ConversationBurst, (await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!.Count);
    }

    [Fact]
    public async Task NewRuns_OverTheRunningCap_AreRefused_MidRunMessagesAreNot_AndAnEndedRunFreesItsSlot()
    {
        var user = TestEnvironment.NewUser("busy");
        using var http = await app.HttpAsAsync(user);
        await using var hub = await app.ConnectAsync(user);

        // Two dinner runs waiting for their approvals: both count.
        var first = await CreateAsync(http, new { text = Contract.DinnerRequest });
        var second = await CreateAsync(http, new { text = Contract.DinnerRequest });
        await using var firstWatch = EventRecorder.Start(hub, first.Id);
        await using var secondWatch = EventRecorder.Start(hub, second.Id);
        await firstWatch.WaitForTypeAsync(EventTypes.InputRequested);
        var request = (InputRequested)(await secondWatch.WaitForTypeAsync(EventTypes.InputRequested)).Data;

        using (var third = await http.PostAsJsonAsync("/api/conversations", new { text = "and one more thing" }, Ct))
        {
            var problem = await AssertProblemAsync(third, HttpStatusCode.TooManyRequests, "rate_limited");
            Assert.Contains($"the limit is {SmallLimits.MaxRunning}", problem);
        }

        // A conversation without a run is no run; its first message would start one.
        var idle = await CreateAsync(http, new { title = "later" });
        using (var start = await http.PostAsJsonAsync($"/api/conversations/{idle.Id}/messages", new { text = "now?" }, Ct))
        {
            await AssertProblemAsync(start, HttpStatusCode.TooManyRequests, "rate_limited");
        }

        using (var midRun = await http.PostAsJsonAsync($"/api/conversations/{first.Id}/messages", new { text = "make it vegetarian" }, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, midRun.StatusCode);
        }

        using (var approved = await http.PostAsJsonAsync($"/api/conversations/{second.Id}/responses", new { requestId = request.RequestId, approved = true }, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, approved.StatusCode);
        }

        await secondWatch.WaitForTypeAsync(EventTypes.RunCompleted);
        using var now = await http.PostAsJsonAsync($"/api/conversations/{idle.Id}/messages", new { text = "now?" }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, now.StatusCode);
    }

    private static async Task<ConversationInfo> CreateAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/api/conversations", body, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ConversationInfo>(Json, Ct))!;
    }

    /// <summary>Checks the problem; returns its detail.</summary>
    internal static async Task<string> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        return problem.RootElement.GetProperty("detail").GetString()!;
    }

    /// <summary>An app whose limits a test reaches in a few calls; every test is its own user.</summary>
    public sealed class SmallLimits() : LimitedApp(new Dictionary<string, string?>
    {
        ["RateLimits:SendsPerMinute"] = SendsPerMinute.ToString(),
        ["RateLimits:SendBurst"] = SendBurst.ToString(),
        ["RateLimits:ConversationsPerMinute"] = "6",
        ["RateLimits:ConversationBurst"] = ConversationBurst.ToString(),
        ["Agent:MaxRunningConversationsPerUser"] = MaxRunning.ToString(),
    })
    {
        public const int SendsPerMinute = 6;
        public const int SendBurst = 4;
        public const int ConversationBurst = 5;
        public const int MaxRunning = 2;
    }
}

/// <summary>A conversation's log that reaches <c>Agent:MaxEventsPerConversation</c>, on an app with a tiny cap.</summary>
public sealed class LogSizeLimitTests(LogSizeLimitTests.TinyLog app) : IClassFixture<LogSizeLimitTests.TinyLog>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ARun_ThatFillsTheLog_FailsWithLogFull_WithinTheCap_AndFurtherSendsAreTooLarge()
    {
        var user = TestEnvironment.NewUser("verbose");
        using var http = await app.HttpAsAsync(user);
        await using var hub = await app.ConnectAsync(user);
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
        await using var watch = EventRecorder.Start(hub, info.Id);

        var failed = (RunFailed)(await watch.WaitForTypeAsync(EventTypes.RunFailed)).Data;

        Assert.Equal("log_full", failed.Error.Code);
        var events = watch.Events;
        Contract.AssertGapless(events);
        Assert.True(events.Count <= TinyLog.MaxEvents, $"{events.Count} events; the cap is {TinyLog.MaxEvents}");
        Assert.Equal(EventTypes.RunFailed, events[^1].Type);
        // Closed as any run is: every call has its result.
        var calls = events.Select(e => e.Data).OfType<ToolCalled>().Select(c => c.CallId);
        Assert.Equal(calls, events.Select(e => e.Data).OfType<ToolResultReturned>().Select(r => r.CallId));
        Assert.DoesNotContain(events, e => e.Type == EventTypes.InputRequested);

        using (var sent = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "try again" }, Ct))
        {
            Assert.Contains($"limit of {TinyLog.MaxEvents} events", await LimitsTests.AssertProblemAsync(sent, HttpStatusCode.RequestEntityTooLarge, "too_large"));
        }

        Assert.Contains("too_large:", (await Assert.ThrowsAsync<HubException>(
            () => hub.InvokeAsync<object>("SendMessage", info.Id, new SendMessage("and again"), Ct))).Message);
        var after = await hub.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct);
        Assert.Equal((ConversationStatus.Idle, RunOutcome.Failed, events[^1].Seq), (after.Status, after.LastRunOutcome, after.LastSeq));
    }

    /// <summary>
    /// Room for the dinner run's start, its search and its first answer but not its approval: the run always
    /// reaches the cap before it waits.
    /// </summary>
    public sealed class TinyLog() : LimitedApp(new Dictionary<string, string?>
    {
        ["Agent:MaxEventsPerConversation"] = MaxEvents.ToString(),
        ["Llm:DemoTokensPerSecond"] = "0",
        ["Llm:DemoToolLatency"] = "00:00:00",
    })
    {
        public const int MaxEvents = 12;
    }
}

/// <summary>The real app on its own SQLite file with <c>settings</c> over the tests' generous limits.</summary>
public abstract class LimitedApp(IReadOnlyDictionary<string, string?> settings) : IAsyncLifetime
{
    private readonly string _directory = TestEnvironment.NewTempDirectory();
    private WebApplication? _app;
    private Uri _baseAddress = null!;

    public async ValueTask InitializeAsync()
    {
        var all = TestApp.SingleNode(Path.Combine(_directory, "agents.db"));
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        _app = TestApp.Build(all);
        await _app.StartAsync();
        _baseAddress = new Uri(_app.Urls.Single());
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(timeout.Token);
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public async Task<HttpClient> HttpAsAsync(string user)
    {
        var client = new HttpClient { BaseAddress = _baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(user));
        return client;
    }

    public async Task<HubConnection> ConnectAsync(string user)
    {
        var token = await TokenAsync(user);
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(_baseAddress, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
            .Build();
        await connection.StartAsync(TestContext.Current.CancellationToken);
        return connection;
    }

    private async Task<string> TokenAsync(string user)
    {
        using var http = new HttpClient { BaseAddress = _baseAddress };
        return await DevTokens.FetchAsync(http, user);
    }
}
