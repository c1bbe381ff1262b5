using System.Threading.Channels;
using Agents.Events;
using Microsoft.Extensions.Options;
using Orleans.Streams;

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "The feed of conversation {ConversationId} failed; its watchers resume")]
    private partial void LogFeedFaulted(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId} was deleted; its watchers end")]
    private partial void LogFeedDeleted(string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unsubscribing from conversation {ConversationId} failed")]
    internal partial void LogUnsubscribeFailed(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Subscribed to conversation {ConversationId}")]
    internal partial void LogSubscribed(string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribed from conversation {ConversationId}")]
    internal partial void LogUnsubscribed(string conversationId);
}

/// <summary>One conversation's subscription on this gateway and the watchers it fans out to.</summary>
public sealed class ConversationFeed : IAsyncObserver<EventEnvelope[]>
{
    private readonly ConversationFeeds _owner;
    private readonly TaskCompletionSource<StreamSubscriptionHandle<EventEnvelope[]>> _subscription = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Replaced (copy on write) under the owner's lock; read without it by the stream callback.
    private FeedWatcher[] _watchers = [];
    private int _faulted;

    internal ConversationFeed(ConversationFeeds owner, string conversationId)
    {
        _owner = owner;
        ConversationId = conversationId;
        StreamId = StreamId.Create(AgentNames.ConversationStreamNamespace, conversationId);
    }

    public string ConversationId { get; }

    internal StreamId StreamId { get; }

    internal Task Subscribed => _subscription.Task;

    internal bool IsEmpty => _watchers.Length == 0;

    internal bool IsFaulted => Volatile.Read(ref _faulted) != 0;

    internal FeedWatcher Add(int capacity)
    {
        var watcher = new FeedWatcher(_owner, this, capacity);
        _watchers = [.. _watchers, watcher];
        return watcher;
    }

    /// <summary>Whether the watcher was still here.</summary>
    internal bool Remove(FeedWatcher watcher)
    {
        var index = Array.IndexOf(_watchers, watcher);
        if (index < 0)
        {
            return false;
        }

        _watchers = [.. _watchers[..index], .. _watchers[(index + 1)..]];
        return true;
    }

    internal void Start(IClusterClient client) => _ = SubscribeAsync(client);

    private async Task SubscribeAsync(IClusterClient client)
    {
        try
        {
            var stream = client.GetStreamProvider(AgentNames.StreamProvider).GetStream<EventEnvelope[]>(StreamId);
            _subscription.TrySetResult(await stream.SubscribeAsync(this));
            _owner.LogSubscribed(ConversationId);
        }
        catch (Exception ex)
        {
            _subscription.TrySetException(ex);
            Volatile.Write(ref _faulted, 1);
            _owner.Fault(this, ex);
        }
    }

    internal async Task CloseAsync()
    {
        try
        {
            var handle = await _subscription.Task;
            await handle.UnsubscribeAsync();
            _owner.LogUnsubscribed(ConversationId);
        }
        catch (Exception ex) when (!_subscription.Task.IsFaulted)
        {
            _owner.LogUnsubscribeFailed(ex, ConversationId);
        }
        catch
        {
            // Never subscribed: nothing to undo.
        }

        _owner.Closed(this);
    }

    internal void EndWatchers(Exception? error)
    {
        foreach (var watcher in Volatile.Read(ref _watchers))
        {
            watcher.End(error);
        }
    }

    public Task OnNextAsync(EventEnvelope[] item, StreamSequenceToken? token = null)
    {
        if (item.Length == 0)
        {
            // The grain's last word (AgentNames.ConversationStreamNamespace): the conversation is gone.
            Volatile.Write(ref _faulted, 1);
            _owner.Deleted(this);
            return Task.CompletedTask;
        }

        foreach (var watcher in Volatile.Read(ref _watchers))
        {
            watcher.Offer(item);
        }

        return Task.CompletedTask;
    }

    public Task OnCompletedAsync()
    {
        Volatile.Write(ref _faulted, 1);
        _owner.Fault(this, new InvalidOperationException($"The stream of conversation {ConversationId} completed."));
        return Task.CompletedTask;
    }

    public Task OnErrorAsync(Exception ex)
    {
        Volatile.Write(ref _faulted, 1);
        _owner.Fault(this, ex);
        return Task.CompletedTask;
    }
}

/// <summary>One watcher's buffer of live events; disposing it leaves the feed.</summary>
public sealed class FeedWatcher : IDisposable
{
    private readonly ConversationFeeds _owner;
    private readonly Channel<EventEnvelope[]> _buffer;
    private int _disposed;

    internal FeedWatcher(ConversationFeeds owner, ConversationFeed feed, int capacity)
    {
        _owner = owner;
        Feed = feed;
        _buffer = Channel.CreateBounded<EventEnvelope[]>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        GatewayTelemetry.Watchers.Add(1);
    }

    internal ConversationFeed Feed { get; }

    /// <summary>
    /// Live batches in publish order. Completes with <see cref="WatcherFellBehindException"/> after the last
    /// buffered batch when the buffer overflowed, or with the feed's error.
    /// </summary>
    public ChannelReader<EventEnvelope[]> Reader => _buffer.Reader;

    /// <summary>Whether the buffer overflowed (the watcher ends once it has read what the buffer holds).</summary>
    internal bool HasFallenBehind { get; private set; }

    /// <summary>Called by the stream callback: never waits.</summary>
    internal void Offer(EventEnvelope[] batch)
    {
        if (!_buffer.Writer.TryWrite(batch) && _buffer.Writer.TryComplete(new WatcherFellBehindException()))
        {
            HasFallenBehind = true;
        }
    }

    internal void End(Exception? error) => _buffer.Writer.TryComplete(error);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _buffer.Writer.TryComplete();
            GatewayTelemetry.Watchers.Add(-1);
            _owner.Leave(this);
        }
    }
}

/// <summary>A watcher's buffer overflowed: its client reads slower than the conversation writes.</summary>
public sealed class WatcherFellBehindException() : Exception("The watcher fell behind the conversation and was ended.");
