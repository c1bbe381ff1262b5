using System.Threading.Channels;
using Agents.Events;

namespace Agents.Api.Streaming;

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
