using Agents.Events;

namespace Agents.Grains.Tests;

/// <summary>Fork: a new conversation whose log begins with copies of another's events 1..afterSeq.</summary>
public sealed class ForkTests(SiloFixture silo)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AForkAtEveryPointWhereNoRunIsOpen_IsThePrefix_AndEveryOtherPointIsRefused()
    {
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;
        await silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
        await silo.WaitForEndAsync(id);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Thanks!"), Ct);
        var source = await silo.WaitForRunsAsync(id, 2);

        var legal = 0;
        for (var afterSeq = 0; afterSeq <= source.Count; afterSeq++)
        {
            // A run is open from the message that starts it (stored with its run.started) through the event before
            // its end; here, with no message sent mid-run, that leaves the start and each run's end.
            if (afterSeq > 0 && !EventTypes.IsTerminal(source[afterSeq - 1].Type))
            {
                var refused = await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).ForkAsync(Alice, afterSeq, Ct));
                Assert.Equal(ErrorCodes.InvalidArgument, refused.Code);
                continue;
            }

            legal++;
            var fork = await silo.Conversation(id).ForkAsync(Alice, afterSeq, Ct);
            Assert.NotEqual(id, fork.Id);
            Assert.Equal(new ForkOrigin(id, afterSeq), fork.ForkedFrom);
            Assert.Equal(ConversationStatus.Idle, fork.Status);
            Assert.Equal(afterSeq, fork.LastSeq);
            var copied = await silo.ReadAllAsync(fork.Id);
            LogInvariants.AssertHold(copied);
            Assert.Equal(
                source.Take(afterSeq).Select(e => (e.Seq, e.RunId, e.Type, e.At, AgentJson.SerializeData(e.Data))),
                copied.Select(e => (e.Seq, e.RunId, e.Type, e.At, AgentJson.SerializeData(e.Data))));
            Assert.Equal(fork.ForkedFrom, (await silo.Conversation(fork.Id).GetInfoAsync(Alice, Ct)).ForkedFrom);
        }

        // 0 and each run's end.
        Assert.Equal(3, legal);
        Assert.Equal(ErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).ForkAsync(Alice, source.Count + 1, Ct))).Code);
        Assert.Equal(ErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).ForkAsync(Alice, -1, Ct))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<ConversationException>(() => silo.Conversation(id).ForkAsync("mallory", 0, Ct))).Code);
    }

    [Fact]
    public async Task EditAndRerun_AForkBeforeAMessage_TakesTheEditedText_WithTheHistoryBeforeIt()
    {
        var script = silo.Model.Add(new Turn(new TextStep("First answer.")), new Turn(new TextStep("Answer to the edit.")));
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: script.Marker), Ct);
        await silo.WaitForEndAsync(id);
        await silo.Conversation(id).SendMessageAsync(Alice, new SendMessage("Original follow-up"), Ct);
        var source = await silo.WaitForRunsAsync(id, 2);
        var followUp = source.Single(e => e.Data is UserMessageSent { Text: "Original follow-up" });

        var fork = await silo.Conversation(id).ForkAsync(Alice, followUp.Seq - 1, Ct);
        await silo.Conversation(fork.Id).SendMessageAsync(Alice, new SendMessage("Edited follow-up"), Ct);
        var events = await silo.WaitForRunsAsync(fork.Id, 2);

        LogInvariants.AssertHold(events);
        Assert.DoesNotContain(events, e => e.Data is UserMessageSent { Text: "Original follow-up" });
        var prompt = script.Prompts[^1];
        Assert.Equal("Edited follow-up", prompt[^1].Content);
        Assert.Contains(prompt, m => m.Content == "First answer.");
        // The source is untouched.
        Assert.Equal(source.Count, (await silo.ReadAllAsync(id)).Count);
    }
}
