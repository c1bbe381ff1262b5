using System.Text.Json;
using Agents.Events;

namespace Agents.Grains.Tests;

/// <summary><c>start_subagents</c> on the test silo: children are conversations of their own, with their own logs.</summary>
public sealed class SubagentTests(SiloFixture silo)
{
    private const string Alice = "alice";
    private const string Start = "subagents-start_subagents";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ThreeChildren_RunInParallel_AndTheToolResultJoinsTheirOutcomes()
    {
        var children = Enumerable.Range(1, 3)
            .Select(i => silo.Model.Add(new Turn(new TextStep($"Report {i}: ", "found ", "things."))))
            .ToList();
        var parent = silo.Model.Add(
            new Turn(new ToolStep(Start, Tasks(children.Select((c, i) => ($"Part {i + 1}", c.Marker))))),
            new Turn(new TextStep("Combined report.")));
        var id = Ids.NewConversationId();

        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: parent.Marker), Ct);
        var events = await silo.WaitForEndAsync(id, TimeSpan.FromSeconds(30));

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "tool.call", "subagent.started", "subagent.started", "subagent.started",
             "subagent.ended", "subagent.ended", "subagent.ended", "tool.result", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        var started = events.Select(e => e.Data).OfType<SubagentStarted>().ToList();
        Assert.Equal(["Part 1", "Part 2", "Part 3"], started.Select(s => s.Title));
        Assert.Equal(3, started.Select(s => s.ChildId).Distinct().Count());

        var result = events.Select(e => e.Data).OfType<ToolResultReturned>().Single();
        Assert.Null(result.Error);
        using var joined = JsonDocument.Parse(result.Result!);
        var outcomes = joined.RootElement.EnumerateArray().ToList();
        Assert.Equal(started.Select(s => s.ChildId), outcomes.Select(o => o.GetProperty("childId").GetString()));
        Assert.All(outcomes, o => Assert.Equal("completed", o.GetProperty("outcome").GetString()));
        Assert.Equal(["Report 1: found things.", "Report 2: found things.", "Report 3: found things."], outcomes.Select(o => o.GetProperty("text").GetString()));

        foreach (var child in started)
        {
            var log = await silo.ReadAllAsync(child.ChildId);
            LogInvariants.AssertHold(log);
            Assert.Equal(EventTypes.RunCompleted, log[^1].Type);
            var info = await silo.Conversation(child.ChildId).GetInfoAsync(Alice, Ct);
            Assert.Equal(id, info.ParentId);
            Assert.Equal("Part " + (started.IndexOf(child) + 1), info.Title);
            // Another user's child is not theirs.
            await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(child.ChildId).GetInfoAsync("bob", Ct));
        }

        var directory = silo.Grains.GetGrain<IConversationDirectoryGrain>(0);
        Assert.Equal(started.Select(s => s.ChildId).Order(), (await directory.ListChildrenAsync(Alice, id, Ct)).Select(c => c.Id).Order());
        var top = await directory.ListAsync(Alice, ContractLimits.MaxListPage, Ct);
        Assert.Contains(top, c => c.Id == id);
        Assert.DoesNotContain(top, c => started.Any(s => s.ChildId == c.Id));
        await Assert.ThrowsAsync<ConversationException>(() => directory.ListChildrenAsync("bob", id, Ct));
    }

    [Fact]
    public async Task AFailingChild_GivesItsTaskAFailedOutcome_AndTheParentGoesOn()
    {
        var good = silo.Model.Add(new Turn(new TextStep("Fine.")));
        var bad = silo.Model.Add(new Turn(new FailStep(new InvalidOperationException("the model broke"))));
        var parent = silo.Model.Add(
            new Turn(new ToolStep(Start, Tasks([("good", good.Marker), ("bad", bad.Marker)]))),
            new Turn(new TextStep("One of two.")));
        var id = Ids.NewConversationId();

        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: parent.Marker), Ct);
        var events = await silo.WaitForEndAsync(id, TimeSpan.FromSeconds(30));

        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        var ended = events.Select(e => e.Data).OfType<SubagentEnded>().ToDictionary(e => e.ChildId);
        var started = events.Select(e => e.Data).OfType<SubagentStarted>().ToList();
        Assert.Equal(RunOutcome.Completed, ended[started[0].ChildId].Outcome);
        Assert.Equal(RunOutcome.Failed, ended[started[1].ChildId].Outcome);
        Assert.NotNull(ended[started[1].ChildId].Error);
    }

    [Fact]
    public async Task TooManyTasks_OrTooDeep_AreToolErrorsTheModelCanReadOn()
    {
        var many = silo.Model.Add(
            new Turn(new ToolStep(Start, Tasks(Enumerable.Range(0, 9).Select(i => ($"t{i}", $"prompt {i}"))))),
            new Turn(new TextStep("Fewer, then.")));
        var manyId = Ids.NewConversationId();
        await silo.Conversation(manyId).CreateAsync(Alice, new CreateConversation(Text: many.Marker), Ct);
        var manyEvents = await silo.WaitForEndAsync(manyId);
        Assert.Equal("invalid_arguments", manyEvents.Select(e => e.Data).OfType<ToolResultReturned>().Single().Error?.Code);
        Assert.Empty(manyEvents.Select(e => e.Data).OfType<SubagentStarted>());

        // Depth 0 starts depth 1, which starts depth 2, which may not go deeper (Agent:MaxSubagentDepth is 2).
        var deepest = silo.Model.Add(new Turn(new ToolStep(Start, Tasks([("deeper", "never runs")]))), new Turn(new TextStep("Too deep.")));
        var middle = silo.Model.Add(new Turn(new ToolStep(Start, Tasks([("depth 2", deepest.Marker)]))), new Turn(new TextStep("Middle done.")));
        var top = silo.Model.Add(new Turn(new ToolStep(Start, Tasks([("depth 1", middle.Marker)]))), new Turn(new TextStep("Top done.")));
        var topId = Ids.NewConversationId();
        await silo.Conversation(topId).CreateAsync(Alice, new CreateConversation(Text: top.Marker), Ct);
        var topEvents = await silo.WaitForEndAsync(topId, TimeSpan.FromSeconds(30));
        Assert.Equal(EventTypes.RunCompleted, topEvents[^1].Type);

        var depth1 = topEvents.Select(e => e.Data).OfType<SubagentStarted>().Single().ChildId;
        var depth2 = (await silo.ReadAllAsync(depth1)).Select(e => e.Data).OfType<SubagentStarted>().Single().ChildId;
        var depth2Events = await silo.ReadAllAsync(depth2);
        Assert.Equal("too_deep", depth2Events.Select(e => e.Data).OfType<ToolResultReturned>().Single().Error?.Code);
        Assert.Empty(depth2Events.Select(e => e.Data).OfType<SubagentStarted>());
    }

    [Fact]
    public async Task CancellingTheParent_CancelsItsRunningChildren_AndDeletingItDeletesThem()
    {
        var hold = new HoldStep();
        var child = silo.Model.Add(new Turn(new TextStep("Working "), PauseStep.PastTheFlushWindow, hold, new TextStep("never")));
        var parent = silo.Model.Add(new Turn(new ToolStep(Start, Tasks([("slow", child.Marker)]))));
        var id = Ids.NewConversationId();

        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: parent.Marker), Ct);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        var childId = (await silo.ReadAllAsync(id)).Select(e => e.Data).OfType<SubagentStarted>().Single().ChildId;
        await silo.Conversation(id).CancelAsync(Alice, Ct);

        var events = await silo.ReadAllAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCancelled, events[^1].Type);
        var childEvents = await silo.WaitForEndAsync(childId);
        LogInvariants.AssertHold(childEvents);
        Assert.Equal(EventTypes.RunCancelled, childEvents[^1].Type);

        await silo.Conversation(id).DeleteAsync(Alice, Ct);
        Assert.Null(await silo.Store.GetConversationAsync(id, Ct));
        Assert.Null(await silo.Store.GetConversationAsync(childId, Ct));
        Assert.Empty(await silo.Store.ReadEventsAsync(childId, 0, 10, Ct));
    }

    private static string Tasks(IEnumerable<(string Title, string Prompt)> tasks) =>
        JsonSerializer.Serialize(new { tasks = tasks.Select(t => new { title = t.Title, prompt = t.Prompt }) });
}
