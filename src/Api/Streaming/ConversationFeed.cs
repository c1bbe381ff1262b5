using Agents.Events;
using Orleans.Streams;

namespace Agents.Api.Streaming;

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
