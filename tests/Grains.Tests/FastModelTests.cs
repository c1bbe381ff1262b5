using Agents.Events;

namespace Agents.Grains.Tests;

/// <summary>A model that answers faster than the log commits: its stream never waits.</summary>
public sealed class FastModelTests(SiloFixture silo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnAnswerThatNeverWaits_IsStoredAsItStreams_NotAllAtTheEnd()
    {
        // Every piece is there at once, as when a fast model's answer sits in the socket's buffer. Were the whole
        // answer read in one turn of the grain, no commit could complete meanwhile: one delta at the first piece,
        // one with all the rest at the end, and a watcher would see nothing until then.
        var pieces = Enumerable.Repeat("a", 200_000).ToArray();
        var script = silo.Model.Add(new Turn(new TextStep(pieces)));
        var id = Ids.NewConversationId();
        await silo.Conversation(id).CreateAsync("alice", new CreateConversation(Text: script.Marker), Ct);

        var events = await silo.WaitForEndAsync(id, TimeSpan.FromSeconds(60));
        LogInvariants.AssertHold(events);
        Assert.Equal(pieces.Length, events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Single().Text.Length);
        var deltas = events.Count(e => e.Type == EventTypes.MessageDelta);
        Assert.True(deltas >= 3, $"the answer was stored in {deltas} deltas");
    }
}
