using Orleans.Streams;

namespace Agents.Silo.Streaming;

/// <summary>
/// Orleans' memory-stream adapter with one change: a pulling agent that stops does not cancel the read it has in
/// flight. Why: with <see cref="WaitingStreamQueueGrain"/> an idle queue always has a read waiting, and Orleans'
/// receiver logs a cancelled read as an error, with its retry loop logging another: two errors per queue at every
/// silo's shutdown. Left alone, the read ends at once when the queue is on the stopping silo (<see cref="StreamQueueStop"/>),
/// else within <see cref="OrleansHostOptions.StreamQueueWait"/> or at the next event, and the agent, seeing it is
/// stopping, drops what it read, as it drops a read that ends as it stops; the events are in the log, and a watcher
/// that misses one reads the gap from the store.
/// </summary>
internal sealed class UncancelledQueueReads(IQueueAdapterFactory inner) : IQueueAdapterFactory
{
    public Task<IQueueAdapter> CreateAdapter() => CreateAdapter(CancellationToken.None);

    public async Task<IQueueAdapter> CreateAdapter(CancellationToken cancellationToken) =>
        new Adapter(await inner.CreateAdapter(cancellationToken));

    public IQueueAdapterCache GetQueueAdapterCache() => inner.GetQueueAdapterCache();

    public IStreamQueueMapper GetStreamQueueMapper() => inner.GetStreamQueueMapper();

    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) => inner.GetDeliveryFailureHandler(queueId);

    private sealed class Adapter(IQueueAdapter inner) : IQueueAdapter
    {
        public string Name => inner.Name;

        public bool IsRewindable => inner.IsRewindable;

        public StreamProviderDirection Direction => inner.Direction;

        public Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext) =>
            inner.QueueMessageBatchAsync(streamId, events, token, requestContext);

        public IQueueAdapterReceiver CreateReceiver(QueueId queueId) => new Receiver(inner.CreateReceiver(queueId));
    }

    private sealed class Receiver(IQueueAdapterReceiver inner) : IQueueAdapterReceiver
    {
        public Task Initialize(TimeSpan timeout) => Initialize(timeout, CancellationToken.None);

        public Task Initialize(TimeSpan timeout, CancellationToken cancellationToken) => inner.Initialize(timeout, cancellationToken);

        public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);

        public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken) =>
            inner.GetQueueMessagesAsync(maxCount, CancellationToken.None);

        public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => MessagesDeliveredAsync(messages, CancellationToken.None);

        public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken) =>
            inner.MessagesDeliveredAsync(messages, cancellationToken);

        public Task Shutdown(TimeSpan timeout) => Shutdown(timeout, CancellationToken.None);

        public Task Shutdown(TimeSpan timeout, CancellationToken cancellationToken) => inner.Shutdown(timeout, cancellationToken);
    }
}
