using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Agents.Grains.Diagnostics;

namespace Agents.Grains.Tests;

public sealed class TelemetryTests(SiloFixture silo)
{
    [Fact]
    public async Task ARun_IsATrace_OfItsModelAndToolCalls_AndMovesTheMetrics()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AgentTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var measurements = new ConcurrentDictionary<string, double>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == AgentTelemetry.Name)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => measurements.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        meters.SetMeasurementEventCallback<int>((instrument, value, _, _) => measurements.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        meters.SetMeasurementEventCallback<double>((instrument, value, _, _) => measurements.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        meters.Start();

        var script = silo.Model.Add(
            new Turn(new ToolStep("Demo-search_restaurants", """{"query":"thai"}""")),
            new Turn(new TextStep("Golden Lotus.")));
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync("alice", new CreateConversation(Text: script.Marker), TestContext.Current.CancellationToken);
        await silo.WaitForEndAsync(id);
        // The run's span ends when its loop returns, just after the last append.
        var mine = await TestEnvironment.EventuallyAsync(
            () => Task.FromResult(spans.Where(s => (string?)s.GetTagItem("conversation.id") == id).ToList() is { } found && found.Any(s => s.OperationName == "agent.run") ? found : null),
            TimeSpan.FromSeconds(10),
            "the run's span");

        var run = Assert.Single(mine, s => s.OperationName == "agent.run");
        var chats = mine.Where(s => s.OperationName.StartsWith("chat ", StringComparison.Ordinal)).ToList();
        var tool = Assert.Single(mine, s => s.OperationName == "execute_tool search_restaurants");
        Assert.Equal(2, chats.Count);
        Assert.All(chats.Append(tool), s => Assert.Equal(run.SpanId, s.ParentSpanId));
        Assert.All(mine, s => Assert.Equal(run.TraceId, s.TraceId));
        Assert.Equal("Demo-search_restaurants", tool.GetTagItem("gen_ai.tool.name"));
        Assert.Equal("chat", chats[0].GetTagItem("gen_ai.operation.name"));

        meters.RecordObservableInstruments();
        Assert.True(measurements.GetValueOrDefault("agents.events.appended") >= 7);
        Assert.True(measurements.GetValueOrDefault("agents.runs.started") >= 1);
        Assert.True(measurements.GetValueOrDefault("agents.runs.ended") >= 1);
        Assert.True(measurements.GetValueOrDefault("agents.log.commit.events") >= 7);
        Assert.True(measurements.ContainsKey("gen_ai.client.time_to_first_token"));
    }
}
