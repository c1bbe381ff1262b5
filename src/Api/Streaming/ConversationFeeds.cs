using Microsoft.Extensions.Options;

namespace Agents.Api.Streaming;

/// <summary>
/// The bridge from the conversations' Orleans streams to this gateway's watchers: one subscription per
/// conversation however many watchers it has, taken when the first arrives and dropped when the last leaves.
/// Each watcher has its own bounded buffer, written without waiting: a slow client never slows the stream
/// callback (nor so the grain); it overflows its buffer and is ended instead.
/// </summary>
public sealed partial class ConversationFeeds(
    IClusterClient client, StreamHandleCache handles, IOptions<GatewayOptions> options, ILogger<ConversationFeeds> logger)
    : IHostedService
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ConversationFeed> _feeds = new(StringComparer.Ordinal);
    private bool _stopping;

    /// <summary>Conversations this gateway is subscribed to (or subscribing to) right now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>Whether this gateway has (or is taking) a subscription to the conversation's stream.</summary>
    public bool IsSubscribed(string conversationId)
    {
        lock (_lock)
        {
            return _feeds.ContainsKey(conversationId);
        }
    }

    /// <summary>
    /// Registers a watcher of <paramref name="conversationId"/>; returns once the feed's subscription is active,
    /// so every event published from then on reaches the watcher's buffer.
    /// </summary>
    public Task<FeedWatcher> JoinAsync(string conversationId, CancellationToken cancellationToken) =>
        JoinAsync(conversationId, options.Value.WatcherBuffer, cancellationToken);

    internal async Task<FeedWatcher> JoinAsync(string conversationId, int capacity, CancellationToken cancellationToken)
    {
        ConversationFeed feed;
        FeedWatcher watcher;
        var created = false;
        lock (_lock)
        {
            if (_stopping)
            {
                throw new OperationCanceledException("The gateway is stopping.");
            }

            if (!_feeds.TryGetValue(conversationId, out feed!))
            {
                feed = new ConversationFeed(this, conversationId);
                _feeds.Add(conversationId, feed);
                created = true;
            }

            watcher = feed.Add(capacity);
        }

        if (created)
        {
            feed.Start(client);
        }

        try
        {
            await feed.Subscribed.WaitAsync(cancellationToken);
        }
        catch
        {
            watcher.Dispose();
            throw;
        }

        return watcher;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Ends every watcher (its client resumes elsewhere) and drops the subscriptions, which outlive the process otherwise.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        ConversationFeed[] feeds;
        lock (_lock)
        {
            _stopping = true;
            feeds = [.. _feeds.Values];
            _feeds.Clear();
        }

        foreach (var feed in feeds)
        {
            feed.EndWatchers(null);
        }

        await Task.WhenAll(feeds.Select(f => f.CloseAsync())).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    internal void Leave(FeedWatcher watcher)
    {
        var feed = watcher.Feed;
        bool close;
        lock (_lock)
        {
            close = feed.Remove(watcher) && Detach(feed);
        }

        if (close)
        {
            _ = feed.CloseAsync();
        }
    }

    /// <summary>The feed's subscription failed or its stream ended: forget it, so the next watcher subscribes anew.</summary>
    internal void Fault(ConversationFeed feed, Exception error)
    {
        bool close;
        lock (_lock)
        {
            close = Detach(feed);
        }

        LogFeedFaulted(error, feed.ConversationId);
        feed.EndWatchers(error);
        if (close)
        {
            _ = feed.CloseAsync();
        }
    }

    /// <summary>The conversation was deleted: its watchers end with <c>not_found</c> after what they hold, and the feed goes.</summary>
    internal void Deleted(ConversationFeed feed)
    {
        bool close;
        lock (_lock)
        {
            close = Detach(feed);
        }

        LogFeedDeleted(feed.ConversationId);
        feed.EndWatchers(ConversationException.NotFound($"conversation {feed.ConversationId} was deleted"));
        if (close)
        {
            _ = feed.CloseAsync();
        }
    }

    /// <summary>The feed's subscription is undone (or was never made): unless a newer feed took over its stream, Orleans can let go of the stream's handle.</summary>
    internal void Closed(ConversationFeed feed)
    {
        lock (_lock)
        {
            if (_feeds.ContainsKey(feed.ConversationId))
            {
                return;
            }
        }

        handles.Forget(feed.StreamId);
    }

    private bool Detach(ConversationFeed feed)
    {
        if (_feeds.TryGetValue(feed.ConversationId, out var current) && current == feed && (feed.IsEmpty || feed.IsFaulted))
        {
            _feeds.Remove(feed.ConversationId);
            return true;
        }

        return false;
    }
}
