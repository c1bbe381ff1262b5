using Agents.Events;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Tests;

/// <summary>What a message sent during a run does to it, by its mode: steer (the default), queue, interrupt, reject.</summary>
public sealed class MessageModeTests(SiloFixture silo)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Reject_WhileARunIsActive_IsAConflict_AndStoresNothing_ButStartsARunWhenIdle()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(new Turn(new TextStep("Working "), hold, new TextStep("on it.")), new Turn(new TextStep("Second answer.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        // Nothing more is stored until the model is released.
        await silo.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);
        var before = (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).LastSeq;

        var refused = await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Not now?", Mode: MessageModes.Reject), Ct));
        Assert.Equal(ErrorCodes.Conflict, refused.Code);
        Assert.Equal(before, (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).LastSeq);

        hold.Release.SetResult();
        await silo.WaitForEndAsync(id);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Now then.", Mode: MessageModes.Reject), Ct);
        var events = await silo.WaitForRunsAsync(id, 2);
        LogInvariants.AssertHold(events);
        Assert.DoesNotContain(events, e => e.Data is UserMessageSent { Text: "Not now?" });
        Assert.Equal("Second answer.", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
    }

    [Fact]
    public async Task Queue_MessagesSentDuringARun_EachStartItsOwnRun_InOrder_WhenTheOneBeforeEnds()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(
            new Turn(new TextStep("First "), hold, new TextStep("answer.")),
            new Turn(new TextStep("Answer to two.")),
            new Turn(new TextStep("Answer to three.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var two = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Two", "q-2", MessageModes.Queue), Ct);
        var three = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Three", Mode: MessageModes.Queue), Ct);
        // A repeat is told the first seq, as for any send with a client message id.
        Assert.Equal(two, await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Two", "q-2", MessageModes.Queue), Ct));
        Assert.Equal(ConversationStatus.Running, (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).Status);
        hold.Release.SetResult();

        var events = await silo.WaitForRunsAsync(id, 3);
        LogInvariants.AssertHold(events);
        var queued = events.Where(e => e.Data is UserMessageSent { Queued: true }).ToList();
        Assert.Equal([two, three], queued.Select(e => e.Seq));
        Assert.All(queued, e => Assert.Null(e.RunId));
        // Each later run starts in the batch that ends the one before it, with its own message.
        var starts = events.Where(e => e.Type == EventTypes.RunStarted).ToList();
        Assert.Equal(3, starts.Count);
        foreach (var start in starts.Skip(1))
        {
            Assert.Equal(EventTypes.RunCompleted, events.Single(e => e.Seq == start.Seq - 1).Type);
        }

        Assert.Equal(3, script.Prompts.Count);
        Assert.Equal("First answer.", script.Prompts[1].Single(m => m.Role == AuthorRole.Assistant).Content);
        Assert.Equal("Two", script.Prompts[1][^1].Content);
        Assert.DoesNotContain(script.Prompts[1], m => m.Content == "Three");
        Assert.Equal("Three", script.Prompts[2][^1].Content);
        Assert.Equal(
            ["First answer.", "Answer to two.", "Answer to three."],
            events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Select(a => a.Text));
        Assert.Equal(ConversationStatus.Idle, (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).Status);
    }

    [Fact]
    public async Task Queue_OutlivesACancel_TheQueuedMessageStartsTheNextRun()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(new Turn(new TextStep("Long "), hold), new Turn(new TextStep("Queued one answered.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("After that", Mode: MessageModes.Queue), Ct);

        await silo.Conversation(id).CancelAsync(Alice, Ct);
        var events = await silo.WaitForRunsAsync(id, 2);
        LogInvariants.AssertHold(events);
        Assert.Equal(
            [EventTypes.RunCancelled, EventTypes.RunCompleted],
            events.Where(e => EventTypes.IsTerminal(e.Type)).Select(e => e.Type));
        var cancelled = events.Single(e => e.Type == EventTypes.RunCancelled);
        Assert.Equal(EventTypes.RunStarted, events.Single(e => e.Seq == cancelled.Seq + 1).Type);
        Assert.Equal("After that", script.Prompts[1][^1].Content);
    }

    [Fact]
    public async Task Interrupt_WhileStreaming_CutsTheStepAsSuperseded_AndTheStepRestartsWithTheMessage()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(
            new Turn(new TextStep("Booking an Italian "), hold, new TextStep("place.")),
            new Turn(new TextStep("Thai it is.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await silo.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);

        var seq = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Stop, I want Thai.", Mode: MessageModes.Interrupt), Ct);
        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "message.delta", "message.user", "message.interrupted", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        Assert.Equal(seq, events[3].Seq);
        Assert.Equal(InterruptReasons.Superseded, ((MessageInterrupted)events[4].Data).Reason);
        Assert.Single(events, e => e.Type == EventTypes.RunStarted);
        // The cut text is not in the history; the new message is.
        Assert.Equal([AuthorRole.System, AuthorRole.User, AuthorRole.User], script.Prompts[1].Select(m => m.Role));
        Assert.Equal("Stop, I want Thai.", script.Prompts[1][^1].Content);
        Assert.Equal("Thai it is.", ((AssistantMessageCompleted)events[^2].Data).Text);
    }

    [Fact]
    public async Task Interrupt_WhileWaitingForApproval_SettlesTheCallAsCancelDoes_AndTheModelSeesTheMessage()
    {
        var script = silo.Model.Add(
            new Turn(new ToolStep("Demo-make_reservation", """{"restaurant":"Luigi's","people":2,"time":"19:00"}""")),
            new Turn(new TextStep("No reservation then; Thai places coming up.")));
        var id = await StartAsync(script.Marker);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;

        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Forget it, find Thai instead.", Mode: MessageModes.Interrupt), Ct);
        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        var result = events.Select(e => e.Data).OfType<ToolResultReturned>().Single();
        Assert.Equal("superseded", result.Error?.Code);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Equal("Forget it, find Thai instead.", script.Prompts[1][^1].Content);
        // The request died with the interrupt: answering it now is a conflict.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct))).Code);
    }

    [Fact]
    public async Task Interrupt_RacingAToolCall_TheToolFinishesWithItsResult_AndTheNextStepHasTheMessage()
    {
        // The interrupt lands while the tool runs (the message waits for its result) or while the next step waits
        // for the model (that step is cut and the one after it sees the message): either way the tool's result
        // stays and the run goes on.
        var hold = new HoldStep();
        var script = silo.Model.Add(
            new Turn(new ToolStep("Demo-search_restaurants", """{"query":"pizza"}""")),
            new Turn(hold, new TextStep("Here are pizza places, and noted.")));
        var id = await StartAsync(script.Marker);
        await silo.WaitForAsync(id, e => e.Type == EventTypes.ToolCall);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Vegetarian, please.", Mode: MessageModes.Interrupt), Ct);
        hold.Release.SetResult();

        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        var result = Assert.Single(events.Select(e => e.Data).OfType<ToolResultReturned>());
        Assert.Null(result.Error);
        Assert.Single(events, e => e.Type == EventTypes.RunStarted);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Contains(script.Prompts.Skip(1), p => p[^1].Content == "Vegetarian, please.");
    }

    [Fact]
    public async Task AnUnknownMode_IsInvalidArgument()
    {
        var id = await StartAsync("Hello");
        var refused = await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Hi", Mode: "shout"), Ct));
        Assert.Equal(ErrorCodes.InvalidArgument, refused.Code);
    }


    private async Task<string> StartAsync(string text)
    {
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: text), Ct);
        return id;
    }
}
