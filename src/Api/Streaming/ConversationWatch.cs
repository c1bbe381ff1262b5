using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Agents.Events;

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
    /// <summary>The most events one read of the store asks for (the grain's limit).</summary>
    public const int PageSize = 1_000;

    private readonly IConversationGrain _grain;
    private readonly string _userId;
    private readonly FeedWatcher _watcher;
    private readonly TimeSpan _resyncInterval;
    private long _last;
    private int _reading;

    private ConversationWatch(IConversationGrain grain, string userId, string conversationId, long afterSeq, FeedWatcher watcher, TimeSpan resyncInterval)
    {
        _grain = grain;
        _userId = userId;
        ConversationId = conversationId;
        _last = afterSeq;
        _watcher = watcher;
        _resyncInterval = resyncInterval;
    }

    public string ConversationId { get; }

    /// <summary>The seq of the last event handed out (the cursor a client resumes from).</summary>
    public long LastSeq => Interlocked.Read(ref _last);

    /// <summary>
    /// Checks that the user may read the conversation, then joins its feed.
    /// </summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation or another user's.</exception>
    public static async Task<ConversationWatch> OpenAsync(
        IGrainFactory grains, ConversationFeeds feeds, string userId, string conversationId, long afterSeq, TimeSpan resyncInterval, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IConversationGrain>(conversationId);
        // Ownership first: a stranger's watch must not even subscribe.
        await grain.GetInfoAsync(userId, cancellationToken);
        var watcher = await feeds.JoinAsync(conversationId, cancellationToken);
        return new ConversationWatch(grain, userId, conversationId, afterSeq, watcher, resyncInterval);
    }

    /// <summary>A watch over a grain and a feed watcher the caller already has (tests drive both).</summary>
    internal static ConversationWatch Create(
        IConversationGrain grain, string userId, string conversationId, long afterSeq, FeedWatcher watcher, TimeSpan resyncInterval) =>
        new(grain, userId, conversationId, afterSeq, watcher, resyncInterval);

    /// <summary>
    /// Every event after the cursor, then live events, until cancelled. Ends with <c>rate_limited</c> when the
    /// client fell too far behind (the client then watches again from <see cref="LastSeq"/>), and with
    /// <c>not_found</c> when the conversation is deleted.
    /// </summary>
    public async IAsyncEnumerable<EventEnvelope> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException("A watch is read once.");
        }

        var replayed = 0L;
        await foreach (var stored in ReadStoredAsync(long.MaxValue, cancellationToken))
        {
            replayed++;
            yield return stored;
        }

        GatewayTelemetry.EventsReplayed.Record(replayed);
        var reader = _watcher.Reader;
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
                    yield return stored;
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

                    if (live.Seq > _last + 1)
                    {
                        await foreach (var stored in ReadStoredAsync(live.Seq - 1, cancellationToken))
                        {
                            yield return stored;
                        }

                        if (live.Seq != _last + 1)
                        {
                            throw new InvalidOperationException(
                                $"Conversation {ConversationId}: events {_last + 1}-{live.Seq - 1} were published but cannot be read.");
                        }
                    }

                    Interlocked.Exchange(ref _last, live.Seq);
                    yield return live;
                }
            }
        }
    }

    public void Dispose() => _watcher.Dispose();

    /// <summary>Stored events after the cursor up to <paramref name="upTo"/> (or the end of the log), page by page.</summary>
    private async IAsyncEnumerable<EventEnvelope> ReadStoredAsync(long upTo, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (_last < upTo)
        {
            var limit = (int)Math.Min(PageSize, upTo - _last);
            var page = await _grain.GetEventsAsync(_userId, _last, limit, cancellationToken);
            foreach (var stored in page.Events)
            {
                if (stored.Seq <= _last)
                {
                    continue;
                }

                Interlocked.Exchange(ref _last, stored.Seq);
                yield return stored;
            }

            if (page.Events.Count < limit || _last >= page.LastSeq)
            {
                yield break;
            }
        }
    }

    private async ValueTask<Wait> WaitAsync(ChannelReader<EventEnvelope[]> reader, CancellationToken cancellationToken)
    {
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        quiet.CancelAfter(_resyncInterval);
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
