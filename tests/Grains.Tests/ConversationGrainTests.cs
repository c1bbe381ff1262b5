using System.Text.Json;
using Agents.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Orleans.Streams;

namespace Agents.Grains.Tests;

public sealed class ConversationGrainTests(SiloFixture silo)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DinnerRun_WithApproval_GivesTheContractEventsInOrder()
    {
        var id = Ids.NewConversationId();
        var info = await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
        Assert.Equal(ConversationStatus.Running, info.Status);

        var upToRequest = await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested);
        var request = (InputRequested)upToRequest[^1].Data;
        Assert.Equal(InputKinds.Approval, request.Kind);
        Assert.EndsWith("make_reservation", request.Name);
        Assert.Equal(ConversationStatus.Waiting, (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).Status);

        // An approval with an empty remark is an approval.
        await silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Approved: true, Text: ""), Ct);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            [
                "message.user", "run.started",
                "progress", "tool.call", "tool.result",
                "progress", "message.delta", "message.assistant", "tool.call", "input.requested", "input.received", "tool.result",
                "message.delta", "message.assistant", "run.completed",
            ],
            LogInvariants.Shape(events));
        Assert.Equal(["Finding places", "Evaluating places"], events.Select(e => e.Data).OfType<ProgressReported>().Select(p => p.Text));
        Assert.All(events, e => Assert.Equal(events[1].RunId, e.RunId));
        var reservation = events.Select(e => e.Data).OfType<ToolResultReturned>().Last();
        Assert.Null(reservation.Error);
        Assert.Contains("confirmation", reservation.Result);
        Assert.Contains("Enjoy your dinner", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);

        var completed = Assert.IsType<RunCompleted>(events[^1].Data);
        Assert.NotNull(completed.Usage);
        Assert.True(completed.Usage.OutputTokens > 0);

        var final = await silo.Conversation(id).GetInfoAsync(Alice, Ct);
        Assert.Equal(ConversationStatus.Idle, final.Status);
        Assert.Equal(RunOutcome.Completed, final.LastRunOutcome);
        Assert.Equal(events.Count, final.LastSeq);
    }

    [Fact]
    public async Task GetEvents_AfterSeq_ReturnsExactlyTheRest_Paged()
    {
        var script = silo.Model.Add(new Turn(new TextStep([.. Enumerable.Range(0, 30).Select(i => $"w{i} ")])));
        var id = await StartAsync(script.Marker);
        var all = await silo.WaitForEndAsync(id);
        var n = all.Count;
        Assert.True(n >= 5, $"expected a longer log, got {n}");

        for (var k = 0; k <= n; k += Math.Max(1, n / 4))
        {
            var seen = new List<long>();
            var after = (long)k;
            while (true)
            {
                var page = await silo.Conversation(id).GetEventsAsync(Alice, after, 2, Ct);
                Assert.Equal(n, page.LastSeq);
                Assert.True(page.Events.Count <= 2);
                if (page.Events.Count == 0)
                {
                    break;
                }

                seen.AddRange(page.Events.Select(e => e.Seq));
                after = page.Events[^1].Seq;
            }

            Assert.Equal(Enumerable.Range(k + 1, n - k).Select(i => (long)i), seen);
        }
    }

    [Fact]
    public async Task SendMessage_WhileRunIsStreaming_IsLoggedAtOnce_AndInTheNextPrompt()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(
            new Turn(new TextStep("Looking "), hold, new TextStep("now."), new ToolStep("Demo-search_restaurants", """{"query":"thai"}""")),
            new Turn(new TextStep("Thai it is.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // The model is held until after the send: a send that waited for the model would never return (a timing
        // bound here failed under CI's load without saying anything more).
        var seq = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Actually, make it Thai."), Ct);
        var logged = (await silo.ReadAllAsync(id)).Single(e => e.Seq == seq);
        var message = Assert.IsType<UserMessageSent>(logged.Data);
        Assert.Equal("Actually, make it Thai.", message.Text);
        Assert.Equal((await silo.ReadAllAsync(id))[1].RunId, logged.RunId);

        hold.Release.SetResult();
        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Equal(2, script.Prompts.Count);
        var second = script.Prompts[1];
        // The tool's result follows its call directly; the message joins after it.
        Assert.Equal(
            [AuthorRole.System, AuthorRole.User, AuthorRole.Assistant, AuthorRole.Tool, AuthorRole.User],
            second.Select(m => m.Role));
        Assert.Equal("Actually, make it Thai.", second[^1].Content);
        Assert.Equal("Looking now.", second[2].Content);
    }

    [Fact]
    public async Task Approval_Denied_GivesAToolResultError_AndTheModelCarriesOn()
    {
        var script = silo.Model.Add(
            new Turn(new ToolStep("Demo-make_reservation", """{"restaurant":"Casa Verde","time":"20:00","people":3}""")),
            new Turn(new TextStep("Understood, no booking.")));
        var id = await StartAsync(script.Marker);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;

        await silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Approved: false, Text: "too far"), Ct);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var result = events.Select(e => e.Data).OfType<ToolResultReturned>().Single();
        Assert.Equal("denied", result.Error?.Code);
        Assert.Contains("too far", result.Error?.Message);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        var toolMessage = script.Prompts[1].Single(m => m.Role == AuthorRole.Tool);
        Assert.Contains("denied", toolMessage.Items.OfType<FunctionResultContent>().Single().Result?.ToString());
    }

    [Fact]
    public async Task AskUser_Answered_BecomesTheToolResult_AndASecondAnswerIsAConflict()
    {
        var script = silo.Model.Add(
            new Turn(new ToolStep("agent-ask_user", """{"question":"Which city?"}""")),
            new Turn(new TextStep("Oslo, noted.")));
        var id = await StartAsync(script.Marker);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;
        Assert.Equal(InputKinds.Question, request.Kind);
        Assert.Equal("Which city?", request.Prompt);

        var seq = await silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Text: "Oslo"), Ct);
        var again = await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Text: "Bergen"), Ct));
        Assert.Equal(ErrorCodes.Conflict, again.Code);
        // The same answer repeated is a conflict too, but a retrying caller can find its first success.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Text: "Oslo"), Ct))).Code);
        Assert.Equal(seq, await silo.Conversation(id).FindAnswerAsync(Alice, new Respond(request.RequestId, Text: "Oslo"), Ct));
        Assert.Null(await silo.Conversation(id).FindAnswerAsync(Alice, new Respond(request.RequestId, Text: "Bergen"), Ct));

        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        var result = events.Select(e => e.Data).OfType<ToolResultReturned>().Single();
        Assert.Equal("\"Oslo\"", result.Result);
        Assert.Single(events, e => e.Type == EventTypes.InputReceived);
        Assert.Contains("Oslo", script.Prompts[1].Single(m => m.Role == AuthorRole.Tool).Items.OfType<FunctionResultContent>().Single().Result?.ToString());
    }

    [Fact]
    public async Task Cancel_MidStream_EndsWithRunCancelled_WithoutWaitingForTheModel()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(new Turn(new TextStep("Let me think ", "about this "), hold, new TextStep("never sent")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await silo.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);

        // The model holds its stream until released, which never happens: the run can only end by cancelling it.
        await silo.Conversation(id).CancelAsync(Alice, Ct);
        var events = await silo.WaitForEndAsync(id);
        Assert.False(hold.Release.Task.IsCompleted);

        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCancelled, events[^1].Type);
        var interrupted = Assert.IsType<MessageInterrupted>(events[^2].Data);
        Assert.Equal(InterruptReasons.Cancelled, interrupted.Reason);
        Assert.DoesNotContain(events, e => e.Data is MessageDeltaStreamed { Text: var t } && t.Contains("never"));
        Assert.Equal(RunOutcome.Cancelled, (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).LastRunOutcome);
    }

    [Fact]
    public async Task Cancel_WhileWaitingForApproval_ClosesTheCall_AndVoidsTheRequest()
    {
        var script = silo.Model.Add(new Turn(new ToolStep("Demo-make_reservation", """{"restaurant":"Sakura Bar","time":"18:00","people":2}""")));
        var id = await StartAsync(script.Marker);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;

        await silo.Conversation(id).CancelAsync(Alice, Ct);
        var events = await silo.ReadAllAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Equal(["tool.result", "run.cancelled"], LogInvariants.Types(events[^2..]));
        Assert.Equal("cancelled", ((ToolResultReturned)events[^2].Data).Error?.Code);

        var late = await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct));
        Assert.Equal(ErrorCodes.Conflict, late.Code);
    }

    [Fact]
    public async Task SendMessage_WithTheSameClientMessageId_IsIdempotent()
    {
        var script = silo.Model.Add(new Turn(new TextStep("ok")));
        var id = await StartAsync(script.Marker);
        await silo.WaitForEndAsync(id);

        var first = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("again", "client-1"), Ct);
        var second = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("again", "client-1"), Ct);
        Assert.Equal(first, second);
        var conflict = await Assert.ThrowsAsync<ConversationException>(() =>
            silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("something else", "client-1"), Ct));
        Assert.Equal(ErrorCodes.Conflict, conflict.Code);

        await silo.WaitForAsync(id, e => e.Seq > first && EventTypes.IsTerminal(e.Type));
        var events = await silo.ReadAllAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Single(events, e => e.Data is UserMessageSent { ClientMessageId: "client-1" });
    }

    [Fact]
    public async Task AnotherUsersConversation_IsNotFound_ForEveryMethod()
    {
        var script = silo.Model.Add(new Turn(new TextStep("mine")));
        var id = await StartAsync(script.Marker);
        var bob = silo.Conversation(id);
        var calls = new Func<Task>[]
        {
            () => bob.GetInfoAsync("bob", Ct),
            () => bob.SendMessageAsync("bob", new SendMessage("hi"), Ct),
            () => bob.RespondAsync("bob", new Respond("q_1", Approved: true), Ct),
            () => bob.CancelAsync("bob", Ct),
            () => bob.GetEventsAsync("bob", 0, 10, Ct),
            () => silo.Grains.GetGrain<IConversationDirectoryGrain>(0).GetTranscriptAsync("bob", id, Ct),
        };
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<ConversationException>(call);
            Assert.Equal(ErrorCodes.NotFound, error.Code);
        }

        Assert.DoesNotContain(await silo.Grains.GetGrain<IConversationDirectoryGrain>(0).ListAsync("bob", 50, Ct), c => c.Id == id);
        Assert.Contains(await silo.Grains.GetGrain<IConversationDirectoryGrain>(0).ListAsync(Alice, 50, Ct), c => c.Id == id);
    }

    [Fact]
    public async Task BadInput_IsRefusedWithACode_AndStoresNothing()
    {
        var id = Ids.NewConversationId();
        var grain = silo.Conversation(id);
        Assert.Equal(ErrorCodes.TooLarge, (await Assert.ThrowsAsync<ConversationException>(() =>
            grain.CreateAsync(Alice, new CreateConversation(Text: new string('x', 1001)), Ct))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(() => grain.GetInfoAsync(Alice, Ct))).Code);
        Assert.Null(await silo.Store.GetConversationAsync(id, Ct));

        await grain.CreateAsync(Alice, new CreateConversation(Title: "empty"), Ct);
        Assert.Equal(ErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<ConversationException>(() =>
            grain.SendMessageAsync(Alice, new SendMessage("  "), Ct))).Code);
        Assert.Equal(ErrorCodes.TooLarge, (await Assert.ThrowsAsync<ConversationException>(() =>
            grain.SendMessageAsync(Alice, new SendMessage(new string('x', 1001)), Ct))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(() =>
            grain.RespondAsync(Alice, new Respond("q_nothing", Approved: true), Ct))).Code);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<ConversationException>(() =>
            grain.CreateAsync(Alice, new CreateConversation(Title: "again"), Ct))).Code);
        Assert.Empty(await silo.ReadAllAsync(id));
        var info = await grain.GetInfoAsync(Alice, Ct);
        Assert.Equal(("empty", ConversationStatus.Idle, 0L), (info.Title, info.Status, info.LastSeq));
    }

    [Fact]
    public async Task InvalidToolArguments_GiveAToolResultError_AndTheModelCarriesOn()
    {
        var script = silo.Model.Add(
            new Turn(new ToolStep("Demo-search_restaurants", """{"query": "unterminated""")),
            new Turn(new TextStep("Sorry, let me answer directly.")));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal("invalid_arguments", events.Select(e => e.Data).OfType<ToolResultReturned>().Single().Error?.Code);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
    }

    [Fact]
    public async Task TwoToolCallsInOneResponse_EachGetsItsResult_InOneAssistantTurn()
    {
        var script = silo.Model.Add(
            new Turn(
                new TextStep("Searching twice."),
                new ToolStep("Demo-search_restaurants", """{"query":"thai"}""", "call_a", 0),
                new ToolStep("Demo-search_restaurants", """{"query":"italian"}""", "call_b", 1)),
            new Turn(new TextStep("Both found.")));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(["call_a", "call_b"], events.Select(e => e.Data).OfType<ToolCalled>().Select(c => c.CallId));
        var prompt = script.Prompts[1];
        Assert.Equal([AuthorRole.System, AuthorRole.User, AuthorRole.Assistant, AuthorRole.Tool, AuthorRole.Tool], prompt.Select(m => m.Role));
        Assert.Equal(2, prompt[2].Items.OfType<FunctionCallContent>().Count());
        var results = events.Select(e => e.Data).OfType<ToolResultReturned>().ToList();
        Assert.Contains("Golden Lotus", results[0].Result);
        Assert.Contains("Trattoria Lumi", results[1].Result);
    }

    [Fact]
    public async Task ARunThatNeverAnswers_FailsWithMaxSteps()
    {
        var script = silo.Model.Add(new Turn(new ToolStep("Demo-search_restaurants", """{"query":"more"}""")));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal("max_steps", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(SiloFixture.MaxSteps, script.Prompts.Count);
    }

    [Fact]
    public async Task AModelCallCutMidStream_IsRetriedAsAWholeStep_UnderANewMessageId()
    {
        var script = silo.Model.Add(
            new Turn(new TextStep("Half a "), PauseStep.PastTheFlushWindow, new FailStep(new HttpRequestException("connection reset"))),
            new Turn(new TextStep("A whole answer.")));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "message.delta", "message.interrupted", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        var interrupted = events.Select(e => e.Data).OfType<MessageInterrupted>().Single();
        Assert.Equal(InterruptReasons.ModelError, interrupted.Reason);
        Assert.NotEqual(interrupted.MessageId, events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Single().MessageId);
    }

    [Fact]
    public async Task AModelThatKeepsFailing_EndsTheRunWithACode_WhenTheRetriesAreSpent()
    {
        var script = silo.Model.Add(new Turn(new TextStep("Half a "), PauseStep.PastTheFlushWindow, new FailStep(new HttpRequestException("connection reset"))));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal("model_unavailable", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(2, script.Prompts.Count);
        Assert.Equal(2, events.Count(e => e.Data is MessageInterrupted { Reason: InterruptReasons.ModelError }));
    }

    [Fact]
    public async Task AStalledModelStream_TimesOut_AndTheRunFailsWithModelTimeout()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(new Turn(new TextStep("Thinking "), hold));
        var id = await StartAsync(script.Marker);
        var events = await silo.WaitForEndAsync(id, TimeSpan.FromSeconds(30));

        LogInvariants.AssertHold(events);
        Assert.Equal("model_timeout", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
    }

    [Fact]
    public async Task TheTranscriptRow_MatchesTheLog()
    {
        var script = silo.Model.Add(
            new Turn(new TextStep("Let me check."), new ToolStep("Demo-search_restaurants", """{"query":"mexican"}""")),
            new Turn(new TextStep("Casa Verde is close.")));
        var id = await StartAsync(script.Marker);
        var firstRun = await silo.WaitForEndAsync(id);
        var second = await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("And tomorrow?"), Ct);
        await silo.WaitForAsync(id, e => e.Seq > second && EventTypes.IsTerminal(e.Type));
        var all = await silo.ReadAllAsync(id);
        var json = await silo.Grains.GetGrain<IConversationDirectoryGrain>(0).GetTranscriptAsync(Alice, id, Ct);
        Assert.NotNull(json);

        using var transcript = JsonDocument.Parse(json);
        var root = transcript.RootElement;
        Assert.Equal(id, root.GetProperty("conversationId").GetString());
        Assert.Equal(all.Count, root.GetProperty("lastSeq").GetInt64());
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal([firstRun[0].RunId, all[^1].RunId], runs.Select(r => r.GetProperty("runId").GetString()));
        Assert.Equal(["user", "assistant"], runs[1].GetProperty("items").EnumerateArray().Select(i => i.GetProperty("kind").GetString()));
        var events = firstRun;
        var run = runs[0];
        Assert.Equal(events[0].RunId, run.GetProperty("runId").GetString());
        Assert.Equal("completed", run.GetProperty("outcome").GetString());
        var items = run.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["user", "assistant", "tool", "assistant"], items.Select(i => i.GetProperty("kind").GetString()));
        Assert.Equal(script.Marker, items[0].GetProperty("text").GetString());
        var assistants = events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Select(a => a.Text).ToList();
        Assert.Equal(assistants, items.Where(i => i.GetProperty("kind").GetString() == "assistant").Select(i => i.GetProperty("text").GetString()));
        var call = events.Select(e => e.Data).OfType<ToolCalled>().Single();
        var toolCall = items[1].GetProperty("toolCalls")[0];
        Assert.Equal(call.CallId, toolCall.GetProperty("callId").GetString());
        Assert.Equal("mexican", toolCall.GetProperty("arguments").GetProperty("query").GetString());
        Assert.Equal(call.CallId, items[2].GetProperty("callId").GetString());
        Assert.Equal(
            events.Where(e => e.Data is UserMessageSent or AssistantMessageCompleted or ToolResultReturned).Select(e => e.Seq),
            items.Select(i => i.GetProperty("seq").GetInt64()));
    }

    [Fact]
    public async Task EventsArePublishedOnTheConversationStream_AfterTheyAreStored()
    {
        var script = silo.Model.Add(new Turn(new TextStep("streamed ", "to ", "watchers")));
        var id = Ids.NewConversationId();
        var received = new List<EventEnvelope>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = silo.Client.GetStreamProvider(AgentNames.StreamProvider)
            .GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, id));
        var handle = await stream.SubscribeAsync(async (batch, _) =>
        {
            // Published only once durable: each event is already in the store when it arrives.
            var stored = await silo.Store.ReadEventsAsync(id, batch[0].Seq - 1, batch.Length);
            Assert.Equal(batch.Select(e => e.Seq), stored.Select(e => e.Seq));
            lock (received)
            {
                received.AddRange(batch);
            }

            if (batch.Any(e => EventTypes.IsTerminal(e.Type)))
            {
                done.TrySetResult();
            }
        });

        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: script.Marker), Ct);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        await handle.UnsubscribeAsync();

        var stored = await silo.ReadAllAsync(id);
        Assert.Equal(stored.Select(e => (e.Seq, e.Type)), received.Select(e => (e.Seq, e.Type)));
    }

    [Fact]
    public async Task ALongConversation_IsListedWithItsLastSeq_AndNewestFirst()
    {
        var user = $"lister-{Guid.NewGuid():N}";
        var older = Ids.NewConversationId();
        await silo.Conversation(older).CreateAsync(user, new CreateConversation(Title: "older"), Ct);
        var script = silo.Model.Add(new Turn(new TextStep([.. Enumerable.Range(0, 40).Select(i => $"t{i} ")])));
        var newer = Ids.NewConversationId();
        await silo.Conversation(newer).CreateAsync(user, new CreateConversation(Text: script.Marker), Ct);
        var events = await silo.WaitForEndAsync(newer);

        var list = await silo.Grains.GetGrain<IConversationDirectoryGrain>(0).ListAsync(user, 10, Ct);
        Assert.Equal([newer, older], list.Select(c => c.Id));
        Assert.Equal(events.Count, list[0].LastSeq);
        Assert.Equal(RunOutcome.Completed, list[0].LastRunOutcome);
        Assert.Equal(ConversationStatus.Idle, list[0].Status);
    }

    [Fact]
    public void DemoTools_DeclareWhetherTheyAreIdempotent()
    {
        var kernel = silo.Services.GetRequiredService<Kernel>();
        Assert.True(kernel.Plugins.GetFunction("Demo", "search_restaurants").UnderlyingMethod?.IsDefined(typeof(Agent.Tools.IdempotentAttribute), false));
        Assert.False(kernel.Plugins.GetFunction("Demo", "make_reservation").UnderlyingMethod?.IsDefined(typeof(Agent.Tools.IdempotentAttribute), false));
    }

    [Fact]
    public async Task AMessageSentWhileTheFinalAnswerStreams_GetsAnAnswerInTheSameRun()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(
            new Turn(new TextStep("Here is "), hold, new TextStep("my answer.")),
            new Turn(new TextStep("And to your follow-up: yes.")));
        var id = await StartAsync(script.Marker);
        await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("One more thing?"), Ct);
        hold.Release.SetResult();

        var events = await silo.WaitForEndAsync(id);
        LogInvariants.AssertHold(events);
        Assert.Single(events, e => e.Type == EventTypes.RunStarted);
        Assert.Equal(2, script.Prompts.Count);
        Assert.Equal([AuthorRole.System, AuthorRole.User, AuthorRole.Assistant, AuthorRole.User], script.Prompts[1].Select(m => m.Role));
        Assert.Equal("One more thing?", script.Prompts[1][^1].Content);
        Assert.Equal("And to your follow-up: yes.", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
    }

    private async Task<string> StartAsync(string text)
    {
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: text), Ct);
        return id;
    }
}
