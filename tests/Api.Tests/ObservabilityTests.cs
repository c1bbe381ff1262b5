using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Agents.Api.Tests;

/// <summary>What operators see: one trace per request down to the model and tool calls, the metrics, and readiness.</summary>
public sealed class ObservabilityTests(ApiFixture api)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ADemoRun_IsOneTrace_FromTheRequest_ThroughTheGrainCall_ToModelAndToolSpans_AndMovesTheMetrics()
    {
        api.FlushMetrics();
        var startedBefore = Sum(api.Metrics.Snapshot(), "agents.runs.started");
        var replaysBefore = Count(api.Metrics.Snapshot(), "agents.gateway.replay.events");

        var user = TestEnvironment.NewUser("traced");
        using var http = await api.HttpAsAsync(user);
        using var created = await http.PostAsJsonAsync("/api/conversations", new { text = Contract.DinnerRequest }, ApiJson.Options, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var info = (await created.Content.ReadFromJsonAsync<ConversationInfo>(ApiJson.Options, Ct))!;
        await using (var hub = await api.ConnectAsync(user, Ct))
        {
            await using var watch = EventRecorder.Start(hub, info.Id);
            var requested = (InputRequested)(await watch.WaitForTypeAsync(EventTypes.InputRequested)).Data;
            await hub.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct);
            await watch.WaitForTypeAsync(EventTypes.RunCompleted);
        }

        // The run's first part: POST /api/conversations → the grain call → agent.run → chat and execute_tool spans.
        var spans = await EventuallyAsync(() =>
        {
            var all = api.Spans.Snapshot();
            var runs = all.Where(s => s.OperationName == "agent.run" && (string?)s.GetTagItem("conversation.id") == info.Id).ToList();
            return runs.Count == 2 ? all : null;
        }, "both agent.run spans of the dinner run");
        var first = spans.Where(s => s.OperationName == "agent.run" && (string?)s.GetTagItem("conversation.id") == info.Id).MinBy(s => s.StartTimeUtc)!;
        var trace = spans.Where(s => s.TraceId == first.TraceId).ToList();
        var second = spans.Where(s => s.OperationName == "agent.run" && (string?)s.GetTagItem("conversation.id") == info.Id).MaxBy(s => s.StartTimeUtc)!;
        TestContext.Current.TestOutputHelper?.WriteLine(Tree(trace));
        // AGENTS_TELEMETRY_OUT=dir keeps the trace and the scrape (docs/operations.md shows them).
        var output = Environment.GetEnvironmentVariable("AGENTS_TELEMETRY_OUT");
        if (output is { Length: > 0 })
        {
            await File.WriteAllTextAsync(Path.Combine(output, "trace.txt"), Tree(trace) + Environment.NewLine + Tree(spans.Where(s => s.TraceId == second.TraceId).ToList()), Ct);
        }

        // agent.run ← the grain's server span ← the gateway's client span ← the HTTP request (← this test's HttpClient).
        var chain = Ancestors(first, trace);
        Assert.Equal(ActivityKind.Server, chain[1].Kind);
        Assert.Equal("Microsoft.Orleans.Application", chain[1].Source.Name);
        Assert.Equal("Agents.IConversationGrain/CreateAsync", chain[1].GetTagItem("rpc.method"));
        Assert.Equal(ActivityKind.Client, chain[2].Kind);
        var request = chain[3];
        Assert.Equal(ActivityKind.Server, request.Kind);
        Assert.Equal("Microsoft.AspNetCore", request.Source.Name);
        Assert.Equal("POST", request.GetTagItem("http.request.method"));
        Assert.Equal(user, request.GetTagItem("enduser.id"));

        var children = trace.Where(s => s.ParentSpanId == first.SpanId).ToList();
        var chats = children.Where(s => s.OperationName.StartsWith("chat ", StringComparison.Ordinal)).ToList();
        var tools = children.Where(s => s.OperationName.StartsWith("execute_tool ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(chats);
        Assert.NotEmpty(tools);
        Assert.All(chats, c =>
        {
            Assert.False(string.IsNullOrEmpty((string?)c.GetTagItem("gen_ai.request.model")));
            Assert.True(Convert.ToInt64(c.GetTagItem("gen_ai.usage.input_tokens")) > 0);
            Assert.True(Convert.ToInt64(c.GetTagItem("gen_ai.usage.output_tokens")) > 0);
        });
        Assert.All(tools, t => Assert.False(string.IsNullOrEmpty((string?)t.GetTagItem("gen_ai.tool.name"))));

        // The second part (after the approval) is its own trace, started by the hub's Respond invocation.
        Assert.Contains(Ancestors(second, spans.Where(s => s.TraceId == second.TraceId).ToList()), s => s.Source.Name == "Microsoft.AspNetCore.SignalR.Server");

        api.FlushMetrics();
        var metrics = api.Metrics.Snapshot();
        Assert.True(Sum(metrics, "agents.runs.started") > startedBefore);
        Assert.True(Count(metrics, "agents.gateway.replay.events") > replaysBefore);
        Assert.True(Sum(metrics, "gen_ai.client.token.usage") > 0);
        Assert.Contains(metrics, m => m.Name == "agents.gateway.watchers");

        var scraped = await api.Http.GetStringAsync("/metrics", Ct);
        if (output is { Length: > 0 })
        {
            await File.WriteAllTextAsync(Path.Combine(output, "metrics.txt"), scraped, Ct);
        }

        Assert.Contains("agents_runs_started", scraped);
        Assert.Contains("agents_events_appended", scraped);
        Assert.Contains("agents_gateway_watchers", scraped);
        Assert.Contains("agents_gateway_replay_events", scraped);
        Assert.Contains("gen_ai_client_token_usage", scraped);
    }

    [Fact]
    public async Task Readyz_WhileTheDatabaseIsLocked_IsUnhealthy_AndHealthyAgainAfter()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var database = Path.Combine(directory, "agents.db");
        var settings = TestApp.SingleNode(database);
        settings["Observability:Prometheus"] = "false";
        await using var app = TestApp.Build(settings);
        await app.StartAsync(Ct);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };
            await EventuallyAsync(async () => (await http.GetAsync("/readyz", Ct)).StatusCode == HttpStatusCode.OK ? "" : null, "ready at start");

            await using (var locker = new SqliteConnection($"Data Source={database};Pooling=False"))
            {
                await locker.OpenAsync(Ct);
                await using (var begin = locker.CreateCommand())
                {
                    // Another process holding the write lock: nothing can be written until it lets go.
                    begin.CommandText = "BEGIN EXCLUSIVE;";
                    await begin.ExecuteNonQueryAsync(Ct);
                }

                using var locked = await http.GetAsync("/readyz", Ct);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, locked.StatusCode);
                Assert.Equal("Unhealthy", await locked.Content.ReadAsStringAsync(Ct));

                await using var rollback = locker.CreateCommand();
                rollback.CommandText = "ROLLBACK;";
                await rollback.ExecuteNonQueryAsync(Ct);
            }

            await EventuallyAsync(async () => (await http.GetAsync("/readyz", Ct)).StatusCode == HttpStatusCode.OK ? "" : null, "ready again after the lock");
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/metrics", Ct)).StatusCode);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(timeout.Token);
        }
    }

    [Fact]
    public async Task OrleansDashboard_WhenEnabled_IsServedOnItsPath_ToLocalRequests()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Observability:Dashboard:Enabled"] = "true",
            ["Observability:Dashboard:Path"] = "/ops/orleans",
        };
        await TestApp.RunSingleNodeAsync(settings, async app =>
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
            using var page = await http.GetAsync("/ops/orleans/", Ct);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/dashboard/", Ct)).StatusCode);
        }, Ct);
    }

    private static List<Activity> Ancestors(Activity span, List<Activity> trace)
    {
        var chain = new List<Activity> { span };
        while (trace.FirstOrDefault(s => s.SpanId == chain[^1].ParentSpanId) is { } parent)
        {
            chain.Add(parent);
        }

        return chain;
    }

    /// <summary>The trace as an indented tree, for the test output (and docs/operations.md).</summary>
    private static string Tree(List<Activity> trace)
    {
        var text = new StringBuilder();
        void Write(Activity span, int depth)
        {
            var tags = string.Join(' ', span.TagObjects
                .Where(t => t.Key.StartsWith("gen_ai.", StringComparison.Ordinal) || t.Key is "conversation.id" or "run.id" or "run.status" or "http.route" or "enduser.id" or "rpc.method")
                .Select(t => $"{t.Key}={t.Value}"));
            text.AppendLine($"{new string(' ', depth * 2)}{span.OperationName} [{span.Source.Name}, {span.Kind}, {span.Duration.TotalMilliseconds:F0} ms] {tags}");
            foreach (var child in trace.Where(s => s.ParentSpanId == span.SpanId).OrderBy(s => s.StartTimeUtc))
            {
                Write(child, depth + 1);
            }
        }

        foreach (var root in trace.Where(s => !trace.Any(p => p.SpanId == s.ParentSpanId)).OrderBy(s => s.StartTimeUtc))
        {
            Write(root, 0);
        }

        return text.ToString();
    }

    private static double Sum(List<MetricSnapshot> metrics, string name)
    {
        // Cumulative: the last export holds the totals.
        var last = metrics.LastOrDefault(m => m.Name == name);
        if (last is null)
        {
            return 0;
        }

        double sum = 0;
        foreach (var point in last.MetricPoints)
        {
            sum += last.MetricType switch
            {
                MetricType.LongSum or MetricType.LongSumNonMonotonic => point.GetSumLong(),
                MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic => point.GetSumDouble(),
                _ => 0,
            };
        }

        return sum;
    }

    private static long Count(List<MetricSnapshot> metrics, string name)
    {
        var last = metrics.LastOrDefault(m => m.Name == name);
        long count = 0;
        foreach (var point in last?.MetricPoints ?? [])
        {
            count += point.GetHistogramCount();
        }

        return count;
    }

    private static Task<T> EventuallyAsync<T>(Func<T?> probe, string what) where T : class =>
        EventuallyAsync(() => Task.FromResult(probe()), what);

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what) where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(100, Ct);
        }
    }
}
