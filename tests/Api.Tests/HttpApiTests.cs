using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Events;

namespace Agents.Api.Tests;

/// <summary>The HTTP API over real Kestrel: status codes, problem details, paging and server-sent events.</summary>
public sealed class HttpApiTests(ApiFixture api)
{
    private static readonly JsonSerializerOptions Json = ApiJson.Options;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AConversation_OverHttp_CreatesSendsPagesAndTranscribes()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("rest"));
        using var created = await http.PostAsJsonAsync("/api/conversations", new { title = "over http" }, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var info = (await created.Content.ReadFromJsonAsync<ConversationInfo>(Json, Ct))!;
        Assert.Equal($"/api/conversations/{info.Id}", created.Headers.Location?.OriginalString);
        Assert.Equal("over http", info.Title);

        // lastRunOutcome is part of the info even before any run ended.
        using (var raw = JsonDocument.Parse(await http.GetStringAsync($"/api/conversations/{info.Id}", Ct)))
        {
            Assert.Equal(JsonValueKind.Null, raw.RootElement.GetProperty("lastRunOutcome").ValueKind);
            // A top-level conversation says so: parentId is null, not missing.
            Assert.Equal(JsonValueKind.Null, raw.RootElement.GetProperty("parentId").ValueKind);
            Assert.Equal("idle", raw.RootElement.GetProperty("status").GetString());
        }

        using var sent = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "hello there" }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
        Assert.Equal(1, (await sent.Content.ReadFromJsonAsync<SeqResult>(Json, Ct))!.Seq);

        var all = await ReadUntilAsync(http, info.Id, EventTypes.RunCompleted);
        Contract.AssertGapless(all);
        Assert.Equal(["message.user", "run.started", "message.delta", "message.assistant", "run.completed"], Contract.Shape(all));

        // Pages of two, ascending, each with the conversation's lastSeq.
        var paged = new List<EventEnvelope>();
        while (true)
        {
            var page = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{info.Id}/events?after={paged.Count}&limit=2", Json, Ct))!;
            Assert.Equal(all[^1].Seq, page.LastSeq);
            Assert.True(page.Events.Count <= 2);
            if (page.Events.Count == 0)
            {
                break;
            }

            paged.AddRange(page.Events);
        }

        Assert.Equal(all.Select(e => e.Seq), paged.Select(e => e.Seq));

        using var transcript = JsonDocument.Parse(await http.GetStringAsync($"/api/conversations/{info.Id}/transcript", Ct));
        var run = Assert.Single(transcript.RootElement.GetProperty("runs").EnumerateArray());
        Assert.Equal("completed", run.GetProperty("outcome").GetString());

        Assert.Empty((await http.GetFromJsonAsync<List<ConversationInfo>>($"/api/conversations/{info.Id}/children", Json, Ct))!);
        var list = (await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!;
        Assert.Equal(info.Id, Assert.Single(list).Id);
        using var cancelled = await http.PostAsync($"/api/conversations/{info.Id}/cancel", null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, cancelled.StatusCode);
    }

    [Fact]
    public async Task Messages_TakeAMode_AndUsage_ReportsTheCallersDay()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("modes"));
        using var created = await http.PostAsJsonAsync("/api/conversations", new { title = "modes" }, Ct);
        var info = (await created.Content.ReadFromJsonAsync<ConversationInfo>(Json, Ct))!;

        using var unknown = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "hi", mode = "shout" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("invalid_argument", await unknown.Content.ReadAsStringAsync(Ct));

        // Idle: any mode starts a run, reject too.
        using var sent = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "hello there", mode = "reject" }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
        var all = await ReadUntilAsync(http, info.Id, EventTypes.RunCompleted);
        var spent = all.Select(e => e.Data).OfType<IModelCallUsage>().Select(c => c.Usage).OfType<TokenUsage>().Aggregate((a, b) => a + b);

        using var raw = JsonDocument.Parse(await http.GetStringAsync("/api/usage", Ct));
        var today = raw.RootElement.GetProperty("today");
        Assert.Equal(spent.InputTokens, today.GetProperty("inputTokens").GetInt64());
        Assert.Equal(spent.OutputTokens, today.GetProperty("outputTokens").GetInt64());
        Assert.Equal(JsonValueKind.Null, raw.RootElement.GetProperty("limit").ValueKind);
    }

    [Fact]
    public async Task Fork_OverHttp_Is201WithForkedFrom_AndAnotherUsersIsNotFound()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("forker"));
        using var created = await http.PostAsJsonAsync("/api/conversations", new { text = "hello there" }, Ct);
        var info = (await created.Content.ReadFromJsonAsync<ConversationInfo>(Json, Ct))!;
        var all = await ReadUntilAsync(http, info.Id, EventTypes.RunCompleted);

        using var forked = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/fork", new { afterSeq = all[^1].Seq }, Ct);
        Assert.Equal(HttpStatusCode.Created, forked.StatusCode);
        using (var raw = JsonDocument.Parse(await forked.Content.ReadAsStringAsync(Ct)))
        {
            var from = raw.RootElement.GetProperty("forkedFrom");
            Assert.Equal(info.Id, from.GetProperty("conversationId").GetString());
            Assert.Equal(all[^1].Seq, from.GetProperty("afterSeq").GetInt64());
            Assert.Equal($"/api/conversations/{raw.RootElement.GetProperty("id").GetString()}", forked.Headers.Location?.OriginalString);
        }

        using var inside = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/fork", new { afterSeq = 2 }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, inside.StatusCode);
        Assert.Contains("invalid_argument", await inside.Content.ReadAsStringAsync(Ct));
        using var stranger = await api.HttpAsAsync(TestEnvironment.NewUser("stranger"));
        using var theirs = await stranger.PostAsJsonAsync($"/api/conversations/{info.Id}/fork", new { afterSeq = 0 }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        // Not a fork: forkedFrom is null, not missing.
        using var plain = JsonDocument.Parse(await http.GetStringAsync($"/api/conversations/{info.Id}", Ct));
        Assert.Equal(JsonValueKind.Null, plain.RootElement.GetProperty("forkedFrom").ValueKind);
    }

    [Fact]
    public async Task EventStream_ResumesFromLastEventId_WhichWinsOverAfter()
    {
        var user = TestEnvironment.NewUser("sse");
        using var http = await api.HttpAsAsync(user);
        var info = await CreateAsync(http, new { text = "tell me something" });
        var all = await ReadUntilAsync(http, info.Id, EventTypes.RunCompleted);

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/conversations/{info.Id}/events/stream?after=1");
        request.Headers.Add("Last-Event-ID", "3");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ReadSseAsync(response, until: EventTypes.RunCompleted);

        Assert.Equal(all.Skip(3).Select(e => e.Seq.ToString()), events.Select(e => e.Id));
        Assert.Equal(all.Skip(3).Select(e => e.Type), events.Select(e => e.Event));
        foreach (var e in events)
        {
            var envelope = JsonSerializer.Deserialize<EventEnvelope>(e.Data, Json)!;
            Assert.Equal(e.Id, envelope.Seq.ToString());
            Assert.Equal(info.Id, envelope.ConversationId);
        }

        // Browsers' EventSource cannot set headers: the token may come in the query instead.
        var token = await api.TokenAsync(user);
        using var viaQuery = await api.Http.GetAsync(
            $"/api/conversations/{info.Id}/events/stream?after={all.Count - 1}&access_token={token}", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, viaQuery.StatusCode);
        var last = Assert.Single(await ReadSseAsync(viaQuery, until: EventTypes.RunCompleted));
        Assert.Equal(all[^1].Seq.ToString(), last.Id);
    }

    [Fact]
    public async Task EventStream_SendsHeartbeatsWhileQuiet()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("quiet"));
        var info = await CreateAsync(http, new { title = "nothing happens" });
        using var response = await http.GetAsync($"/api/conversations/{info.Id}/events/stream", HttpCompletionOption.ResponseHeadersRead, Ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        // The fixture sets the heartbeat to 1 s.
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line == ": heartbeat")
            {
                return;
            }
        }

        Assert.Fail("The stream ended without a heartbeat.");
    }

    [Fact]
    public async Task WithoutAToken_EveryConversationRouteIs401ProblemJson()
    {
        string[] routes = ["/api/conversations", "/api/conversations/c_1", "/api/conversations/c_1/events", "/api/conversations/c_1/events/stream"];
        foreach (var route in routes)
        {
            using var response = await api.Http.GetAsync(route, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using var post = await api.Http.PostAsJsonAsync("/api/conversations", new { text = "hi" }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        using var bad = new HttpRequestMessage(HttpMethod.Get, "/api/conversations");
        bad.Headers.Authorization = new("Bearer", "not.a.token");
        using var forged = await api.Http.SendAsync(bad, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
    }

    [Fact]
    public async Task Health_AndDevToken_NeedNoToken()
    {
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/healthz", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/readyz", Ct)).StatusCode);
        using var refused = await api.Http.PostAsJsonAsync("/api/dev/token", new { user = "no spaces please" }, Ct);
        await AssertProblemAsync(refused, HttpStatusCode.BadRequest, "invalid_argument");
    }

    [Fact]
    public async Task AnotherUsersConversation_Is404_OnEveryRoute()
    {
        using var alice = await api.HttpAsAsync(TestEnvironment.NewUser("alice"));
        using var bob = await api.HttpAsAsync(TestEnvironment.NewUser("bob"));
        var info = await CreateAsync(alice, new { title = "private" });

        foreach (var route in new[] { "", "/events", "/events/stream", "/transcript", "/children" })
        {
            using var response = await bob.GetAsync($"/api/conversations/{info.Id}{route}", HttpCompletionOption.ResponseHeadersRead, Ct);
            await AssertProblemAsync(response, HttpStatusCode.NotFound, "not_found");
        }

        using var send = await bob.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "hi" }, Ct);
        await AssertProblemAsync(send, HttpStatusCode.NotFound, "not_found");
        using var respond = await bob.PostAsJsonAsync($"/api/conversations/{info.Id}/responses", new { requestId = "q_x", approved = true }, Ct);
        await AssertProblemAsync(respond, HttpStatusCode.NotFound, "not_found");
        using var cancel = await bob.PostAsync($"/api/conversations/{info.Id}/cancel", null, Ct);
        await AssertProblemAsync(cancel, HttpStatusCode.NotFound, "not_found");
        Assert.Empty((await bob.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!);
    }

    [Fact]
    public async Task BadRequests_AreProblemsWithTheirCodes()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("sloppy"));
        var info = await CreateAsync(http, new { title = "target" });

        using var malformedId = await http.PostAsJsonAsync("/api/conversations/not%20an%20id/messages", new { text = "hi" }, Ct);
        await AssertProblemAsync(malformedId, HttpStatusCode.BadRequest, "invalid_argument");
        using var longId = await http.GetAsync($"/api/conversations/{new string('a', 65)}", Ct);
        await AssertProblemAsync(longId, HttpStatusCode.BadRequest, "invalid_argument");

        var tooLong = new string('x', ApiFixture.MaxMessageChars + 1);
        using var tooLarge = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = tooLong }, Ct);
        await AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "too_large");
        using var tooLargeCreate = await http.PostAsJsonAsync("/api/conversations", new { text = tooLong }, Ct);
        await AssertProblemAsync(tooLargeCreate, HttpStatusCode.RequestEntityTooLarge, "too_large");

        using var brokenJson = await http.PostAsync($"/api/conversations/{info.Id}/messages", new StringContent("{\"text\":", Encoding.UTF8, "application/json"), Ct);
        await AssertProblemAsync(brokenJson, HttpStatusCode.BadRequest, "invalid_argument");
        using var emptyText = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/messages", new { text = "  " }, Ct);
        await AssertProblemAsync(emptyText, HttpStatusCode.BadRequest, "invalid_argument");
        using var badCursor = await http.GetAsync($"/api/conversations/{info.Id}/events?after=-1", Ct);
        await AssertProblemAsync(badCursor, HttpStatusCode.BadRequest, "invalid_argument");
        using var badLimit = await http.GetAsync($"/api/conversations/{info.Id}/events?limit=5000", Ct);
        await AssertProblemAsync(badLimit, HttpStatusCode.BadRequest, "invalid_argument");
        using var unknownRequest = await http.PostAsJsonAsync($"/api/conversations/{info.Id}/responses", new { requestId = "q_nothing", approved = true }, Ct);
        await AssertProblemAsync(unknownRequest, HttpStatusCode.NotFound, "not_found");

        // Nothing was half-stored: the only conversation is the target, and its log is empty.
        var list = (await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!;
        Assert.Equal(0, Assert.Single(list).LastSeq);
    }

    private async Task<ConversationInfo> CreateAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/api/conversations", body, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ConversationInfo>(Json, Ct))!;
    }

    /// <summary>Follows the SSE stream from the start until an event of <paramref name="type"/>; returns the log up to it.</summary>
    private static async Task<List<EventEnvelope>> ReadUntilAsync(HttpClient http, string conversationId, string type)
    {
        using var response = await http.GetAsync($"/api/conversations/{conversationId}/events/stream", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await ReadSseAsync(response, type);
        return [.. events.Select(e => JsonSerializer.Deserialize<EventEnvelope>(e.Data, Json)!)];
    }

    private static async Task<List<SseEvent>> ReadSseAsync(HttpResponseMessage response, string until)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(EventRecorder.DefaultTimeout);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var events = new List<SseEvent>();
        string? id = null, type = null, data = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    events.Add(new SseEvent(id, type, data));
                    if (type == until)
                    {
                        return events;
                    }
                }

                id = type = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        throw new InvalidOperationException($"The stream ended before {until}.");
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()));
    }

    private sealed record SseEvent(string? Id, string? Event, string Data);
}
