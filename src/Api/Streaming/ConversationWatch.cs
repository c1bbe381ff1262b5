using Agents.Api.Hosting;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Agents.Events;
using Orleans.Runtime;

namespace Agents.Api.Streaming;

/// <summary>
/// One client's view of a conversation's log from a cursor on: the stored events after it, then the live ones,
/// in seq order without gaps or duplicates.
/// <para>
/// The watcher joins the feed <em>before</em> the store is read. An event is published only after it is stored,
/// so one published before the subscription was active is in the store by the time of that read, and one
/// published after reaches the buffer: nothing falls between the two. What both give is dropped by seq; a jump
/// in seq (a lost publish) is filled from the store; and a quiet watcher re-reads the store now and then,
/// in case the lost publish was the last one.
/// </para>
/// </summary>
public sealed class ConversationWatch : IDisposable
{
    /// <summary>How long a read of the store is retried while the grain's silo is unreachable.</summary>
    private static readonly TimeSpan FailoverPatience = TimeSpan.FromSeconds(20);

    private static readonly Backoff FailoverBackoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));

    private readonly IConversationGrain _grain;
    private readonly string _userId;
    private readonly FeedWatcher _watcher;
    private readonly TimeSpan _resyncInterval;
    private readonly TimeSpan _activeResyncInterval;
    private long _last;
    private int _reading;
    private bool _runActive;

    private ConversationWatch(
        IConversationGrain grain, string userId, string conversationId, long afterSeq, FeedWatcher watcher, TimeSpan resyncInterval, TimeSpan activeResyncInterval)
    {
        _grain = grain;
        _userId = userId;
        ConversationId = conversationId;
        _last = afterSeq;
        _watcher = watcher;
        _resyncInterval = resyncInterval;
        _activeResyncInterval = activeResyncInterval;
    }

    public string ConversationId { get; }

    /// <summary>The seq of the last event handed out (the cursor a client resumes from).</summary>
    public long LastSeq => Interlocked.Read(ref _last);

    /// <summary>
    /// Checks that the user may read the conversation, then joins its feed.
    /// </summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation or another user's.</exception>
    public static async Task<ConversationWatch> OpenAsync(
        IGrainFactory grains, ConversationFeeds feeds, string userId, string conversationId, long afterSeq, GatewayOptions options, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IConversationGrain>(conversationId);
        // Ownership first: a stranger's watch must not even subscribe.
        await grain.GetInfoAsync(userId, cancellationToken);
        var watcher = await feeds.JoinAsync(conversationId, cancellationToken);
        return new ConversationWatch(grain, userId, conversationId, afterSeq, watcher, options.ResyncInterval, options.ActiveResyncInterval);
    }

    /// <summary>A watch over a grain and a feed watcher the caller already has (tests drive both).</summary>
    internal static ConversationWatch Create(
        IConversationGrain grain, string userId, string conversationId, long afterSeq, FeedWatcher watcher, TimeSpan resyncInterval, TimeSpan? activeResyncInterval = null) =>
        new(grain, userId, conversationId, afterSeq, watcher, resyncInterval, activeResyncInterval ?? resyncInterval);

    /// <summary>
    /// Every event after the cursor, then live events, until cancelled. Ends with <c>rate_limited</c> when the
    /// client fell too far behind (the client then watches again from <see cref="LastSeq"/>), and with
    /// <c>not_found</c> when the conversation is deleted.
    /// </summary>
    public async IAsyncEnumerable<EventEnvelope> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var batch in ReadBatchesAsync(cancellationToken))
        {
            foreach (var e in batch)
            {
                yield return e;
            }
        }
    }

    /// <summary>
    /// The same events as <see cref="ReadAllAsync"/>, in batches: each batch non-empty, its seqs consecutive and
    /// continuing the batch before it. A replay goes a stored page at a time; live, a batch holds what arrived
    /// while the one before was being sent, so a busy conversation or a slow client costs fewer, larger messages.
    /// </summary>
    public async IAsyncEnumerable<EventEnvelope[]> ReadBatchesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException("A watch is read once.");
        }

        var replayed = 0L;
        await foreach (var stored in ReadStoredAsync(long.MaxValue, cancellationToken))
        {
            replayed += stored.Length;
            yield return Seen(stored);
        }

        GatewayTelemetry.EventsReplayed.Record(replayed);
        var reader = _watcher.Reader;
        var pending = new List<EventEnvelope>();
        while (true)
        {
            var next = await WaitAsync(reader, cancellationToken);
            if (next == Wait.Ended)
            {
                yield break;
            }

            if (next == Wait.Quiet)
            {
                await foreach (var stored in ReadStoredAsync(long.MaxValue, cancellationToken))
                {
                    yield return Seen(stored);
                }

                continue;
            }

            while (reader.TryRead(out var batch))
            {
                foreach (var live in batch)
                {
                    if (live.Seq <= _last)
                    {
                        continue;
                    }

                    if (live.Seq > _last + 1 || pending.Count == ContractLimits.MaxEventsPage)
                    {
                        if (pending.Count > 0)
                        {
                            yield return Seen(Take(pending));
                        }

                        await foreach (var stored in ReadStoredAsync(live.Seq - 1, cancellationToken))
                        {
                            yield return Seen(stored);
                        }

                        if (live.Seq != _last + 1)
                        {
                            throw new InvalidOperationException(
                                $"Conversation {ConversationId}: events {_last + 1}-{live.Seq - 1} were published but cannot be read.");
                        }
                    }

                    Interlocked.Exchange(ref _last, live.Seq);
                    pending.Add(live);
                }
            }

            if (pending.Count > 0)
            {
                yield return Seen(Take(pending));
            }
        }
    }

    public void Dispose() => _watcher.Dispose();

    /// <summary>
    /// Notes whether a run is going on after this event: a running run writes all the time, so a silence in one is
    /// worth a look at the store soon (after a failover its events may come by the store before the stream mends).
    /// </summary>
    private EventEnvelope[] Seen(EventEnvelope[] batch)
    {
        var e = batch[^1];
        _runActive = e.RunId is not null && !EventTypes.IsTerminal(e.Type) && e.Type != EventTypes.InputRequested;
        return batch;
    }

    private static EventEnvelope[] Take(List<EventEnvelope> pending)
    {
        var batch = pending.ToArray();
        pending.Clear();
        return batch;
    }

    /// <summary>Stored events after the cursor up to <paramref name="upTo"/> (or the end of the log), a non-empty page at a time.</summary>
    private async IAsyncEnumerable<EventEnvelope[]> ReadStoredAsync(long upTo, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (_last < upTo)
        {
            var limit = (int)Math.Min(ContractLimits.MaxEventsPage, upTo - _last);
            var page = await ReadPageAsync(limit, cancellationToken);
            var after = _last;
            var fresh = page.Events.Where(e => e.Seq > after).ToArray();
            if (fresh.Length > 0)
            {
                Interlocked.Exchange(ref _last, fresh[^1].Seq);
                yield return fresh;
            }

            if (page.Events.Count < limit || _last >= page.LastSeq)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// One page from the grain. While a silo is dying the call can land on it (the directory still names it until the
    /// cluster declares it dead, a few seconds): retried for that long, so a watcher rides through a failover instead
    /// of failing its client.
    /// </summary>
    private async Task<EventPage> ReadPageAsync(int limit, CancellationToken cancellationToken)
    {
        var waited = TimeSpan.Zero;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _grain.GetEventsAsync(_userId, _last, limit, cancellationToken);
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException && waited < FailoverPatience && !cancellationToken.IsCancellationRequested)
            {
                waited += await FailoverBackoff.WaitAsync(attempt, TimeProvider.System, cancellationToken);
            }
            catch (Exception ex) when (TransportFailures.IsTransient(ex, cancellationToken))
            {
                // Past its patience: the watcher ends as unavailable, and its client watches again from its last seq.
                throw TransportFailures.Unavailable(ex);
            }
        }
    }

    private async ValueTask<Wait> WaitAsync(ChannelReader<EventEnvelope[]> reader, CancellationToken cancellationToken)
    {
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        quiet.CancelAfter(_runActive ? _activeResyncInterval : _resyncInterval);
        try
        {
            return await reader.WaitToReadAsync(quiet.Token) ? Wait.Ready : Wait.Ended;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Wait.Quiet;
        }
        catch (WatcherFellBehindException)
        {
            throw new ConversationException(ErrorCodes.RateLimited,
                $"this watcher fell too far behind conversation {ConversationId}; watch again with afterSeq={_last}");
        }
    }

    private enum Wait
    {
        Ready,
        Quiet,
        Ended,
    }
}
