using Agents.Api.Conversations;
using Agents.Events;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Agents.Api.Tests;

/// <summary>The hub over real Kestrel with the .NET SignalR client, as any client would use it.</summary>
public sealed class HubTests(ApiFixture api)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Watch_FromZero_SeesTheWholeDinnerRun_ThroughTheApproval()
    {
        await using var hub = await api.ConnectAsync(TestEnvironment.NewUser("diner"), Ct);
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
        Assert.Equal(ConversationStatus.Running, info.Status);
        await using var watch = EventRecorder.Start(hub, info.Id);

        var requested = (InputRequested)(await watch.WaitForTypeAsync(EventTypes.InputRequested)).Data;
        Assert.Equal(InputKinds.Approval, requested.Kind);
        Assert.EndsWith("make_reservation", requested.Name);
        var answered = await hub.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct);
        var completed = await watch.WaitForTypeAsync(EventTypes.RunCompleted);

        var events = watch.Events;
        Assert.Equal(Contract.DinnerShape, Contract.Shape(events));
        Contract.AssertGapless(events);
        Contract.AssertDeltasAddUp(events);
        Assert.Equal(answered.Seq, events.Single(e => e.Type == EventTypes.InputReceived).Seq);
        Assert.Equal(["Finding places", "Evaluating places"], events.Select(e => e.Data).OfType<ProgressReported>().Select(p => p.Text));
        Assert.Contains("Enjoy your dinner", events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
        Assert.All(events, e => Assert.Equal(info.Id, e.ConversationId));

        var after = await hub.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct);
        Assert.Equal(ConversationStatus.Idle, after.Status);
        Assert.Equal(RunOutcome.Completed, after.LastRunOutcome);
        Assert.Equal(completed.Seq, after.LastSeq);
    }

    [Fact]
    public async Task Watch_ResumedWithItsLastSeq_AfterADisconnectMidRun_GetsEveryEventExactlyOnce()
    {
        var user = TestEnvironment.NewUser("resumer");
        var first = await api.ConnectAsync(user, Ct);
        var info = await first.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
        var before = EventRecorder.Start(first, info.Id);
        // Mid-run: the assistant is streaming its first message.
        await before.WaitForTypeAsync(EventTypes.MessageDelta);
        await first.DisposeAsync();
        await before.WaitForEndAsync();
        var seen = before.Events;
        var lastSeq = seen[^1].Seq;

        await using var second = await api.ConnectAsync(user, Ct);
        await using var after = EventRecorder.Start(second, info.Id, lastSeq);
        var requested = (InputRequested)(await after.WaitForTypeAsync(EventTypes.InputRequested)).Data;
        await second.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct);
        await after.WaitForTypeAsync(EventTypes.RunCompleted);

        var all = seen.Concat(after.Events).ToList();
        Contract.AssertGapless(all);
        Assert.Equal(Contract.DinnerShape, Contract.Shape(all));
        Assert.True(after.Events[0].Seq == lastSeq + 1, $"the resumed watch starts after {lastSeq}");
    }

    [Fact]
    public async Task WatchBatches_SendsWhatWatchSends_InConsecutiveBatches_AndRefusesAStranger()
    {
        await using var hub = await api.ConnectAsync(TestEnvironment.NewUser("batcher"), Ct);
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
        await using var watch = EventRecorder.Start(hub, info.Id);
        var requested = (InputRequested)(await watch.WaitForTypeAsync(EventTypes.InputRequested)).Data;
        await hub.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct);
        var completed = await watch.WaitForTypeAsync(EventTypes.RunCompleted);

        // From a cursor in the middle, so the replay starts where the client says, then a page holds the rest.
        var batches = new List<EventEnvelope[]>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await foreach (var batch in hub.StreamAsync<EventEnvelope[]>("WatchBatches", info.Id, 3L, stop.Token))
        {
            batches.Add(batch);
            if (batch[^1].Seq >= completed.Seq)
            {
                break;
            }
        }

        Assert.All(batches, Assert.NotEmpty);
        var events = batches.SelectMany(b => b).ToList();
        Assert.Equal(watch.Events.Where(e => e.Seq > 3).Select(e => (e.Seq, e.Type)), events.Select(e => (e.Seq, e.Type)));
        Assert.Single(batches);

        await using var stranger = await api.ConnectAsync(TestEnvironment.NewUser("stranger"), Ct);
        var refused = await Assert.ThrowsAsync<HubException>(async () =>
        {
            await foreach (var _ in stranger.StreamAsync<EventEnvelope[]>("WatchBatches", info.Id, 0L, Ct))
            {
            }
        });
        Assert.Contains("not_found:", refused.Message);
    }

    [Fact]
    public async Task TwoWatchers_OfOneConversation_BothGetEverything_OverOneSubscription()
    {
        var user = TestEnvironment.NewUser("pair");
        await using var a = await api.ConnectAsync(user, Ct);
        await using var b = await api.ConnectAsync(user, Ct);
        var info = await a.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "watched twice"), Ct);
        var one = EventRecorder.Start(a, info.Id);
        var two = EventRecorder.Start(b, info.Id);
        await WaitUntilAsync(() => api.Feeds.IsSubscribed(info.Id), "the feed to subscribe");

        await a.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage(Contract.DinnerRequest), Ct);
        var requested = (InputRequested)(await one.WaitForTypeAsync(EventTypes.InputRequested)).Data;
        await b.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct);
        await one.WaitForTypeAsync(EventTypes.RunCompleted);
        await two.WaitForTypeAsync(EventTypes.RunCompleted);

        Contract.AssertGapless(one.Events);
        Assert.Equal(one.Events.Select(e => (e.Seq, e.Type)), two.Events.Select(e => (e.Seq, e.Type)));
        Assert.Equal(Contract.DinnerShape, Contract.Shape(one.Events));

        // The last watcher to leave drops the subscription.
        await one.DisposeAsync();
        Assert.True(api.Feeds.IsSubscribed(info.Id));
        await two.DisposeAsync();
        await WaitUntilAsync(() => !api.Feeds.IsSubscribed(info.Id), "the feed to unsubscribe");
    }

    [Fact]
    public async Task AnotherUsersConversation_IsNotFound_ForEveryMethod()
    {
        await using var alice = await api.ConnectAsync(TestEnvironment.NewUser("alice"), Ct);
        await using var bob = await api.ConnectAsync(TestEnvironment.NewUser("bob"), Ct);
        var info = await alice.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: Contract.DinnerRequest), Ct);
        await using var alicesWatch = EventRecorder.Start(alice, info.Id);
        var requested = (InputRequested)(await alicesWatch.WaitForTypeAsync(EventTypes.InputRequested)).Data;

        await AssertCodeAsync("not_found", () => bob.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct));
        await AssertCodeAsync("not_found", () => bob.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage("let me in"), Ct));
        await AssertCodeAsync("not_found", () => bob.InvokeAsync<SeqResult>("Respond", info.Id, new Respond(requested.RequestId, Approved: true), Ct));
        await AssertCodeAsync("not_found", () => bob.InvokeAsync("Cancel", info.Id, Ct));
        await using (var bobsWatch = EventRecorder.Start(bob, info.Id))
        {
            await bobsWatch.WaitForEndAsync();
            Assert.Empty(bobsWatch.Events);
            Assert.Contains("not_found:", Assert.IsType<HubException>(bobsWatch.Error).Message);
        }

        var bobs = await bob.InvokeAsync<List<ConversationInfo>>("ListConversations", Ct);
        Assert.DoesNotContain(bobs, c => c.Id == info.Id);
        var alices = await alice.InvokeAsync<List<ConversationInfo>>("ListConversations", Ct);
        Assert.Equal(info.Id, Assert.Single(alices).Id);

        // Nothing Bob did reached Alice's conversation: it still waits for her answer.
        var now = await alice.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct);
        Assert.Equal(ConversationStatus.Waiting, now.Status);
        Assert.DoesNotContain(alicesWatch.Events, e => e.Data is UserMessageSent { Text: "let me in" } or InputReceived);
        await alice.InvokeAsync("Cancel", info.Id, Ct);
        await alicesWatch.WaitForTypeAsync(EventTypes.RunCancelled);
    }

    [Fact]
    public async Task WithoutAToken_TheHubRefusesTheConnection()
    {
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => api.ConnectAsync(user: null, Ct));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, error.StatusCode);
    }

    [Fact]
    public async Task ATooLongText_IsTooLarge_AndNothingIsStored()
    {
        await using var hub = await api.ConnectAsync(TestEnvironment.NewUser("verbose"), Ct);
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "limits"), Ct);
        var tooLong = new string('x', ApiFixture.MaxMessageChars + 1);

        await AssertCodeAsync("too_large", () => hub.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage(tooLong), Ct));
        await AssertCodeAsync("too_large", () => hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: tooLong), Ct));

        // The connection survived (the frame was accepted), and the log is untouched.
        var after = await hub.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct);
        Assert.Equal(0, after.LastSeq);
        Assert.Single(await hub.InvokeAsync<List<ConversationInfo>>("ListConversations", Ct));
        var ok = await hub.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage(new string('y', ApiFixture.MaxMessageChars)), Ct);
        Assert.Equal(1, ok.Seq);
        await hub.InvokeAsync("Cancel", info.Id, Ct);
    }

    [Fact]
    public async Task AMalformedId_IsInvalidArgument_ForEveryMethod()
    {
        await using var hub = await api.ConnectAsync(TestEnvironment.NewUser("typo"), Ct);
        string[] bad = ["has space", "semi;colon", new string('a', 65), "", "é"];
        foreach (var id in bad)
        {
            await AssertCodeAsync("invalid_argument", () => hub.InvokeAsync<ConversationInfo>("GetConversation", id, Ct));
            await AssertCodeAsync("invalid_argument", () => hub.InvokeAsync<SeqResult>("SendMessage", id, new SendMessage("hi"), Ct));
            await AssertCodeAsync("invalid_argument", () => hub.InvokeAsync<SeqResult>("Respond", id, new Respond("q_1", Approved: true), Ct));
            await AssertCodeAsync("invalid_argument", () => hub.InvokeAsync("Cancel", id, Ct));
            await using var watch = EventRecorder.Start(hub, id);
            await watch.WaitForEndAsync();
            Assert.Contains("invalid_argument:", Assert.IsType<HubException>(watch.Error).Message);
        }
    }

    [Fact]
    public async Task SendMessage_WithTheSameClientMessageId_IsStoredOnce()
    {
        await using var hub = await api.ConnectAsync(TestEnvironment.NewUser("retry"), Ct);
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "idempotent"), Ct);
        await using var watch = EventRecorder.Start(hub, info.Id);
        var first = await hub.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage("hello", "client-1"), Ct);
        var again = await hub.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage("hello", "client-1"), Ct);
        Assert.Equal(first, again);
        await AssertCodeAsync("conflict", () => hub.InvokeAsync<SeqResult>("SendMessage", info.Id, new SendMessage("other", "client-1"), Ct));
        await watch.WaitForTypeAsync(EventTypes.RunCompleted);
        Assert.Single(watch.Events, e => e.Type == EventTypes.UserMessage);
    }

    private static async Task AssertCodeAsync(string code, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<HubException>(call);
        Assert.Contains($"{code}:", error.Message);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(EventRecorder.DefaultTimeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(20, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }
        }
    }
}
