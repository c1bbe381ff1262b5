using Agents.Events;
using Orleans.Streams;

namespace Agents.Grains.Tests;

public sealed class ConversationDeletionTests(SiloFixture silo)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Delete_MidStream_ClosesTheRun_RemovesEveryRow_EndsTheStream_AndNothingBringsItBack()
    {
        var hold = new HoldStep();
        var script = silo.Model.Add(new Turn(new TextStep("Let me think ", "about this "), hold, new TextStep("never sent")));
        var id = Ids.NewConversationId();
        var batches = new List<EventEnvelope[]>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = silo.Client.GetStreamProvider(AgentNames.StreamProvider)
            .GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, id));
        var handle = await stream.SubscribeAsync((batch, _) =>
        {
            lock (batches)
            {
                batches.Add(batch);
            }

            if (batch.Length == 0)
            {
                ended.TrySetResult();
            }

            return Task.CompletedTask;
        });

        try
        {
            await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: script.Marker), Ct);
            await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
            await silo.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);

            await silo.Conversation(id).DeleteAsync(Alice, Ct);

            // Watchers saw the run closed as a cancel closes it, then the end of the stream.
            await ended.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
            List<EventEnvelope> published;
            lock (batches)
            {
                Assert.Empty(batches[^1]);
                published = [.. batches.SelectMany(b => b)];
            }

            LogInvariants.AssertHold(published);
            Assert.Equal(["message.interrupted", "run.cancelled"], LogInvariants.Types(published[^2..]));
            await AssertGoneAsync(id);

            // A late wake-up, the held model call returning, another delete, a send: nothing comes back.
            hold.Release.TrySetResult();
            await silo.Conversation(id).WakeAsync(Ct);
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).DeleteAsync(Alice, Ct))).Code);
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(
                () => silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("still there?"), Ct))).Code);
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).GetInfoAsync(Alice, Ct))).Code);

            // Whatever the silo's writer still held was queued before this run's commits: once it is stored, so is that.
            var other = Ids.NewConversationId();
            await silo.Conversation(other).CreateAsync(Alice, new CreateConversation(Text: "Anyone there?"), Ct);
            await silo.WaitForEndAsync(other);
            await AssertGoneAsync(id);
        }
        finally
        {
            hold.Release.TrySetResult();
            await handle.UnsubscribeAsync();
        }
    }

    [Fact]
    public async Task Delete_ByAnotherUser_IsNotFound_AndDeletesNothing()
    {
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Title: "mine"), Ct);

        var refused = await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).DeleteAsync("mallory", Ct));

        Assert.Equal(ErrorCodes.NotFound, refused.Code);
        Assert.NotNull(await silo.Store.GetConversationAsync(id, Ct));
        Assert.Equal("mine", (await silo.Conversation(id).GetInfoAsync(Alice, Ct)).Title);
    }

    private async Task AssertGoneAsync(string id)
    {
        Assert.Null(await silo.Store.GetConversationAsync(id, Ct));
        Assert.Empty(await silo.Store.ReadEventsAsync(id, 0, 100, Ct));
        Assert.Null(await silo.Store.ReadSnapshotAsync(id, Ct));
        Assert.Empty(await silo.Store.ReadTranscriptAsync(id, Ct));
        Assert.DoesNotContain(id, await silo.Store.ListRunningAsync(Ct));
    }
}
