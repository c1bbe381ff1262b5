using Agents.Api.Streaming;
using Agents.Events;
using Orleans.Streams;

namespace Agents.Api.Tests;

/// <summary>
/// The bridge's hard cases, which a healthy grain rarely produces: a lost publish (a seq jump, or a silent tail),
/// duplicates, and a watcher too slow for its buffer. A fake log stands in for the grain; the Orleans stream
/// and the feed are the app's real ones.
/// </summary>
public sealed class ConversationWatchTests(ApiFixture api)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ASeqJump_IsFilledFromTheStore_AndDuplicatesAreDropped()
    {
        var log = new FakeLog(Ids.NewConversationId());
        log.Store(3);
        using var watch = ConversationWatch.Create(log, FakeLog.User, log.Id, 0, await api.Feeds.JoinAsync(log.Id, Ct), TimeSpan.FromMinutes(5));
        await using var events = watch.ReadAllAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.Equal(new long[] { 1, 2, 3 }, await NextAsync(events, 3));

        var stored = log.Store(5);
        await PublishAsync(log.Id, stored[3]);
        Assert.Equal(new long[] { 4, 5, 6, 7 }, await NextAsync(events, 4));

        await PublishAsync(log.Id, stored[1], stored[3], stored[4]);
        Assert.Equal(new long[] { 8 }, await NextAsync(events, 1));
        Assert.Equal(8, watch.LastSeq);
    }

    [Fact]
    public async Task AQuietWatcher_ReadsTheStoreAgain_SoALostLastPublishStillArrives()
    {
        var log = new FakeLog(Ids.NewConversationId());
        log.Store(1);
        using var watch = ConversationWatch.Create(log, FakeLog.User, log.Id, 0, await api.Feeds.JoinAsync(log.Id, Ct), TimeSpan.FromMilliseconds(200));
        await using var events = watch.ReadAllAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.Equal(new long[] { 1 }, await NextAsync(events, 1));

        log.Store(1);
        Assert.Equal(new long[] { 2 }, await NextAsync(events, 1));
    }

    [Fact]
    public async Task AWatcherThatFallsBehind_GetsWhatItsBufferHeld_ThenRateLimitedWithItsCursor()
    {
        var log = new FakeLog(Ids.NewConversationId());
        log.Store(1);
        var watcher = await api.Feeds.JoinAsync(log.Id, capacity: 4, Ct);
        using var watch = ConversationWatch.Create(log, FakeLog.User, log.Id, 0, watcher, TimeSpan.FromMinutes(5));
        await using var events = watch.ReadAllAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.Equal(new long[] { 1 }, await NextAsync(events, 1));

        // The client reads nothing while six batches arrive: the fifth does not fit.
        foreach (var e in log.Store(6))
        {
            await PublishAsync(log.Id, e);
        }

        await WaitUntilAsync(() => watcher.HasFallenBehind);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, await NextAsync(events, 4));
        var error = await Assert.ThrowsAsync<ConversationException>(() => events.MoveNextAsync().AsTask().WaitAsync(Patience, Ct));
        Assert.Equal(ErrorCodes.RateLimited, error.Code);
        Assert.Contains("afterSeq=5", error.Message);
    }

    [Fact]
    public async Task Batches_AreTheStoredPages_ThenWhatArrivedLive_ConsecutiveAndOnce()
    {
        var log = new FakeLog(Ids.NewConversationId());
        log.Store(2_500);
        using var watch = ConversationWatch.Create(log, FakeLog.User, log.Id, 0, await api.Feeds.JoinAsync(log.Id, Ct), TimeSpan.FromMinutes(5));
        await using var batches = watch.ReadBatchesAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.Equal((1, 1_000), await NextBatchAsync(batches));
        Assert.Equal((1_001, 2_000), await NextBatchAsync(batches));
        Assert.Equal((2_001, 2_500), await NextBatchAsync(batches));

        // Live: a repeat is dropped, and a jump is filled from the store before the live events after it.
        var stored = log.Store(4);
        await PublishAsync(log.Id, stored[0], stored[1]);
        Assert.Equal((2_501, 2_502), await NextBatchAsync(batches));
        await PublishAsync(log.Id, stored[1], stored[3]);
        Assert.Equal((2_503, 2_503), await NextBatchAsync(batches));
        Assert.Equal((2_504, 2_504), await NextBatchAsync(batches));
        Assert.Equal(2_504, watch.LastSeq);
    }

    /// <summary>The next batch's first and last seq, once it is checked to be consecutive.</summary>
    private static async Task<(long First, long Last)> NextBatchAsync(IAsyncEnumerator<EventEnvelope[]> batches)
    {
        Assert.True(await batches.MoveNextAsync().AsTask().WaitAsync(Patience, Ct), "the watch ended early");
        var batch = batches.Current;
        Assert.NotEmpty(batch);
        Assert.Equal(Enumerable.Range(0, batch.Length).Select(i => batch[0].Seq + i), batch.Select(e => e.Seq));
        return (batch[0].Seq, batch[^1].Seq);
    }

    private Task PublishAsync(string conversationId, params EventEnvelope[] batch) =>
        api.Client.GetStreamProvider(AgentNames.StreamProvider)
            .GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, conversationId))
            .OnNextAsync(batch);

    private static async Task<long[]> NextAsync(IAsyncEnumerator<EventEnvelope> events, int count)
    {
        var seqs = new long[count];
        for (var i = 0; i < count; i++)
        {
            Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(Patience, Ct), "the watch ended early");
            seqs[i] = events.Current.Seq;
        }

        return seqs;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    /// <summary>A conversation log in memory, read the way the grain reads it.</summary>
    private sealed class FakeLog(string id) : IConversationGrain
    {
        public const string User = "watcher";
        private readonly Lock _lock = new();
        private readonly List<EventEnvelope> _events = [];

        public string Id { get; } = id;

        /// <summary>Appends <paramref name="count"/> events (without publishing them); returns them.</summary>
        public EventEnvelope[] Store(int count)
        {
            lock (_lock)
            {
                var added = Enumerable.Range(_events.Count + 1, count)
                    .Select(seq => new EventEnvelope(seq, Id, "r_test", DateTimeOffset.UtcNow, new ProgressReported($"step {seq}")))
                    .ToArray();
                _events.AddRange(added);
                return added;
            }
        }

        public Task<EventPage> GetEventsAsync(string userId, long afterSeq, int limit, CancellationToken cancellationToken = default)
        {
            Assert.Equal(User, userId);
            Assert.InRange(limit, 1, ContractLimits.MaxEventsPage);
            lock (_lock)
            {
                return Task.FromResult(new EventPage([.. _events.Where(e => e.Seq > afterSeq).Take(limit)], _events.Count));
            }
        }

        public Task<ConversationInfo> CreateAsync(string userId, CreateConversation command, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<long> SendMessageAsync(string userId, SendMessage command, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<long> RespondAsync(string userId, Respond command, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<long?> FindAnswerAsync(string userId, Respond command, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<ConversationInfo> ForkAsync(string userId, long afterSeq, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<ConversationInfo> CreateForkAsync(string userId, ForkOrigin origin, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task CancelAsync(string userId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task DeleteAsync(string userId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<ConversationInfo> GetInfoAsync(string userId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<ConversationInfo> StartAsSubagentAsync(SubagentStart start, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<SubagentOutcome?> GetSubagentOutcomeAsync(string userId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task SubagentEndedAsync(string childId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task WakeAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
