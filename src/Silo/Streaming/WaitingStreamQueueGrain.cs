using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Providers;

namespace Agents.Silo.Streaming;

/// <summary>
/// The in-memory queue behind the conversation stream, in place of Orleans' <see cref="MemoryStreamQueueGrain"/>
/// (<see cref="AgentSiloExtensions"/> swaps it in): a <c>Dequeue</c> that finds the queue empty, as the read before
/// it did, waits for the next <c>Enqueue</c>, up to <see cref="OrleansHostOptions.StreamQueueWait"/>, instead of
/// answering at once.
/// Why: Orleans' pulling agent reads its queue on a timer and only re-arms the timer once a read has returned. With an
/// answer at once, an idle node paid a queue-grain call per queue every <see cref="OrleansHostOptions.StreamPollPeriod"/>
/// (8 queues every 5 ms: 11 % of a core doing nothing, bench I1), and an event waited up to a period for the next read.
/// Waiting here makes the read of a quiet queue a long poll: it costs one call per wait, the first event wakes its
/// reader at once, and it works across silos, since the enqueuing silo calls this grain wherever it lives. A busy queue
/// is read as Orleans reads it, a batch a poll period. Same contract otherwise:
/// the same bound, sequence numbers that keep rising, and the queue carried along when the activation migrates.
/// </summary>
[Reentrant] // an Enqueue must run while a Dequeue waits for it
public sealed class WaitingStreamQueueGrain(IOptions<OrleansHostOptions> options, StreamQueueStop stop)
    : Grain, IMemoryStreamQueueGrain, IGrainMigrationParticipant
{
    // Orleans' memory queue refuses past this many waiting messages; a reader this far behind is lost anyway.
    private const int MaxEventCount = 16384;

    private readonly TimeSpan _wait = options.Value.StreamQueueWait;
    private Queue<MemoryMessageData> _queue = new();
    private long _sequenceNumber = DateTime.UtcNow.Ticks;
    private TaskCompletionSource? _enqueued;
    private bool _lastReadEmpty = true;

    public Task Enqueue(MemoryMessageData data) => Enqueue(data, CancellationToken.None);

    public Task Enqueue(MemoryMessageData data, CancellationToken cancellationToken)
    {
        if (_queue.Count >= MaxEventCount)
        {
            throw new InvalidOperationException($"The stream queue holds its maximum of {MaxEventCount} messages.");
        }

        data.SequenceNumber = _sequenceNumber++;
        _queue.Enqueue(data);
        Wake();
        return Task.CompletedTask;
    }

    public Task<List<MemoryMessageData>> Dequeue(int maxCount) => Dequeue(maxCount, CancellationToken.None);

    public async Task<List<MemoryMessageData>> Dequeue(int maxCount, CancellationToken cancellationToken)
    {
        // Only a queue that stayed empty since the last read waits. Under load a read comes back with a batch, the next
        // finds the queue just drained and answers at once, and the agent rests a poll period while the next batch
        // gathers; waiting there would wake it for every single message.
        if (_queue.Count == 0 && _wait > TimeSpan.Zero && _lastReadEmpty && !stop.Stopping.IsCancellationRequested)
        {
            // A read that is cancelled, or whose silo is stopping, is answered (empty) at once.
            _enqueued ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var stopped = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stop.Stopping);
            await _enqueued.Task.WaitAsync(_wait, stopped.Token)
                .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }

        var batch = new List<MemoryMessageData>(Math.Min(maxCount, _queue.Count));
        while (batch.Count < maxCount && _queue.TryDequeue(out var data))
        {
            batch.Add(data);
        }

        _lastReadEmpty = batch.Count == 0;
        return batch;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A waiting reader answers now rather than holding the deactivation (and a silo's shutdown) for a whole wait.
        Wake();
        return Task.CompletedTask;
    }

    void IGrainMigrationParticipant.OnDehydrate(IDehydrationContext dehydrationContext)
    {
        dehydrationContext.TryAddValue("queue", _queue);
        dehydrationContext.TryAddValue("sequence", _sequenceNumber);
    }

    void IGrainMigrationParticipant.OnRehydrate(IRehydrationContext rehydrationContext)
    {
        if (rehydrationContext.TryGetValue<Queue<MemoryMessageData>>("queue", out var queue) && queue is not null)
        {
            _queue = queue;
        }

        if (rehydrationContext.TryGetValue<long>("sequence", out var sequence))
        {
            _sequenceNumber = Math.Max(_sequenceNumber, sequence);
        }
    }

    private void Wake()
    {
        var enqueued = _enqueued;
        _enqueued = null;
        enqueued?.TrySetResult();
    }
}
