using Agents.Events;
using Agents.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agents.Grains.Tests;

/// <summary>
/// The silo dies with SIGKILL mid-run; a new silo on the same file resumes the run with no call from outside.
/// </summary>
public sealed class HardStopTests
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KilledMidStream_ANewSiloResumesTheRun_WithoutGapsOrDuplicates()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Llm__DemoTokensPerSecond"] = "20",
            ["Llm__DemoToolLatency"] = "00:00:00.050",
            // Small, so the new silo loads a snapshot plus the events after it.
            ["Agent__SnapshotEvery"] = "20",
        };
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            await KillMidFinalAnswerAsync(first, store, id);
        }

        var beforeRestart = await store.ReadAllAsync(id);
        Assert.NotEqual(EventTypes.RunCompleted, beforeRestart[^1].Type);
        var cut = beforeRestart.Last(e => e.Type == EventTypes.MessageDelta);

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        await store.WaitForAsync(id, e => e.Seq > beforeRestart.Count && EventTypes.IsTerminal(e.Type), TimeSpan.FromSeconds(60));
        var events = await store.ReadAllAsync(id);

        LogInvariants.AssertHold(events);
        // What was stored before the kill is unchanged.
        Assert.Equal(
            beforeRestart.Select(e => (e.Seq, e.Type, AgentJson.SerializeData(e.Data))),
            events.Take(beforeRestart.Count).Select(e => (e.Seq, e.Type, AgentJson.SerializeData(e.Data))));
        var resumed = events.Skip(beforeRestart.Count).ToList();
        Assert.Equal(["message.interrupted", "run.resumed"], LogInvariants.Types(resumed.Take(2)));
        Assert.Equal(new MessageInterrupted(((MessageDeltaStreamed)cut.Data).MessageId, InterruptReasons.Restart), resumed[0].Data);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Contains("Enjoy your dinner", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
        // The reservation ran once, before the kill.
        Assert.Single(events, e => e.Data is ToolCalled { Name: var n } && n.EndsWith("make_reservation", StringComparison.Ordinal));
        Assert.All(events, e => Assert.Equal(events[1].RunId, e.RunId));
        Assert.Equal(ConversationStatus.Idle, (await store.GetConversationAsync(id, Ct))?.Status);
        // The run's usage counts the calls made before the kill too: it is summed from the log, not from memory.
        var calls = LogInvariants.CallUsages(events);
        Assert.Equal(3, calls.Count);
        Assert.Equal(calls.Aggregate((a, b) => a + b), Assert.IsType<RunCompleted>(events[^1].Data).Usage);
    }

    [Fact]
    public async Task KilledWhileANonIdempotentToolRuns_ItIsNotRunAgain_AndTheModelIsTold()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Llm__DemoTokensPerSecond"] = "0",
            ["Llm__DemoToolLatency"] = "00:00:04",
        };
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
            await grain.CreateAsync(Alice, new CreateConversation(Text: "Order dinner for two"), Ct);
            var request = (InputRequested)(await store.WaitForAsync(id, e => e.Type == EventTypes.InputRequested, TimeSpan.FromSeconds(30)))[^1].Data;
            await grain.RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
            // make_reservation is running now (it takes 4 s).
            await first.KillAsync();
            await client.StopAsync(CancellationToken.None);
        }

        var beforeRestart = await store.ReadAllAsync(id);
        Assert.Equal(EventTypes.InputReceived, beforeRestart[^1].Type);

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        await store.WaitForAsync(id, e => EventTypes.IsTerminal(e.Type), TimeSpan.FromSeconds(60));
        var events = await store.ReadAllAsync(id);

        LogInvariants.AssertHold(events);
        var resumed = events.Skip(beforeRestart.Count).ToList();
        var interrupted = Assert.IsType<ToolResultReturned>(resumed[0].Data);
        Assert.Equal("interrupted", interrupted.Error?.Code);
        Assert.EndsWith("make_reservation", interrupted.Name);
        Assert.Equal(EventTypes.RunResumed, resumed[1].Type);
        Assert.Single(events, e => e.Data is ToolCalled { Name: var n } && n.EndsWith("make_reservation", StringComparison.Ordinal));
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Contains("did not book", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
    }

    [Fact]
    public async Task KilledWithQueuedMessagesWaiting_TheyStillStartInOrder_EachExactlyOnce()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "20", ["Llm__DemoToolLatency"] = "00:00:00.050" };
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            // Both messages wait for their runs while the dinner's final answer streams.
            await KillMidFinalAnswerAsync(first, store, id, async grain =>
            {
                await grain.SendMessageAsync(Alice, new SendMessage("Thanks, one", Mode: MessageModes.Queue), Ct);
                await grain.SendMessageAsync(Alice, new SendMessage("Thanks, two", Mode: MessageModes.Queue), Ct);
            });
        }

        var beforeRestart = await store.ReadAllAsync(id);
        Assert.Single(beforeRestart, e => e.Type == EventTypes.RunStarted);

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        var events = await TestEnvironment.EventuallyAsync(
            async () => await store.ReadAllAsync(id) is var all && all.Count(e => EventTypes.IsTerminal(e.Type)) >= 3 ? all : null,
            TimeSpan.FromSeconds(60),
            "three runs ended");

        LogInvariants.AssertHold(events);
        Assert.Equal(beforeRestart.Count, events.Count(e => e.Seq <= beforeRestart.Count));
        var queued = events.Where(e => e.Data is UserMessageSent { Queued: true }).Select(e => ((UserMessageSent)e.Data).Text).ToList();
        Assert.Equal(["Thanks, one", "Thanks, two"], queued);
        // Three runs, each started once, one after the other, all completed; nothing started a fourth.
        var starts = events.Where(e => e.Type == EventTypes.RunStarted).ToList();
        Assert.Equal(3, starts.Count);
        Assert.Equal(3, starts.Select(e => e.RunId).Distinct().Count());
        Assert.All(events.Where(e => EventTypes.IsTerminal(e.Type)), e => Assert.Equal(EventTypes.RunCompleted, e.Type));
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        await Task.Delay(500, Ct);
        Assert.Equal(events.Count, (await store.ReadAllAsync(id)).Count);
    }

    /// <summary>
    /// Orders dinner in <paramref name="silo"/>, lets <paramref name="whileWaiting"/> act while it waits for the
    /// approval, approves, and kills the silo once the final answer streams with a good part of it still to come (on
    /// a loaded machine the wait for its first words can take as long as the rest of a short answer).
    /// </summary>
    private static async Task KillMidFinalAnswerAsync(SiloProcess silo, SqliteEventStore store, string id, Func<IConversationGrain, Task>? whileWaiting = null)
    {
        using var client = await silo.ConnectAsync(Ct);
        var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
        await grain.CreateAsync(Alice, new CreateConversation(Text: "Please book a table for dinner, 3 people"), Ct);
        var request = (InputRequested)(await store.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;
        if (whileWaiting is not null)
        {
            await whileWaiting(grain);
        }

        var answered = await grain.RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
        await store.WaitForAsync(id, e => e.Seq > answered && e.Data is MessageDeltaStreamed { Text: var t } && t.Contains("tonight", StringComparison.Ordinal));
        await silo.KillAsync();
        await client.StopAsync(CancellationToken.None);
    }
}
