using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Grains.Storage;

/// <summary>
/// Group commit for every conversation on this silo: one loop takes everything pending (up to a cap),
/// writes it in one transaction and then completes each waiting append. At low load an append costs one
/// commit; under load the batches grow by themselves, with no timer.
/// </summary>
public sealed partial class EventLogWriter : BackgroundService
{
    private readonly Channel<PendingAppend> _pending = Channel.CreateUnbounded<PendingAppend>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly IEventStore _store;
    private readonly StorageOptions _options;
    private readonly ILogger<EventLogWriter> _logger;
    private long _commits;
    private long _events;
    private long _failingSince;

    public EventLogWriter(IEventStore store, IOptions<StorageOptions> options, ILogger<EventLogWriter> logger)
    {
        _store = store;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Commits so far (for benchmarks).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Events written so far (for benchmarks).</summary>
    public long EventsWritten => Interlocked.Read(ref _events);

    /// <summary>
    /// How long the commit being retried has been failing, or null while commits go through. A database can answer
    /// a probe and still refuse writes (a full disk): this is what readiness needs to know.
    /// </summary>
    public TimeSpan? FailingFor => Interlocked.Read(ref _failingSince) is var since and not 0 ? Stopwatch.GetElapsedTime(since) : null;

    /// <summary>
    /// Queues a batch; the task completes once it is durably stored, in the order appends were queued.
    /// </summary>
    public Task AppendAsync(AppendBatch batch)
    {
        var pending = new PendingAppend(batch, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_pending.Writer.TryWrite(pending))
        {
            return Task.FromException(new InvalidOperationException("The event log writer has stopped."));
        }

        return pending.Completion.Task;
    }

    /// <summary>
    /// For a store whose commits block (SQLite runs every command synchronously, its fsync included) the loop runs on
    /// a thread of its own: on the thread pool each commit would hold one of a small machine's few workers for its
    /// whole length, while the streams, grains and sockets wait for the pool to grow. An asynchronous store
    /// (PostgreSQL) stays on the pool: a thread of its own would only add a wake-up to every commit.
    /// </summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_store.CommitsBlock)
        {
            return WriteAllAsync();
        }

        // Blocking waits are the point: this thread does nothing else, and the commits complete on it.
        return OwnThread.Run("Event log writer", () => WriteAllAsync().GetAwaiter().GetResult());
    }

    private async Task WriteAllAsync()
    {
        var reader = _pending.Reader;
        var batch = new List<PendingAppend>();
        // Keep writing after stop is requested until the channel is drained, so accepted appends are not dropped.
        while (await WaitToReadAsync(reader))
        {
            var events = 0;
            while (events < _options.MaxEventsPerCommit && reader.TryRead(out var next))
            {
                batch.Add(next);
                events += next.Batch.Events.Count;
            }

            await CommitAsync(batch, events);
            batch.Clear();
        }
    }

    /// <summary>On the writer's own thread, waits there for the next append rather than coming back on the pool.</summary>
    private ValueTask<bool> WaitToReadAsync(ChannelReader<PendingAppend> reader) =>
        _store.CommitsBlock
            ? ValueTask.FromResult(reader.WaitToReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            : reader.WaitToReadAsync(CancellationToken.None);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _pending.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    // Without jitter: the one writer of this process retries alone, and the budget check needs the delay it will wait.
    private static readonly Backoff CommitBackoff = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2), Jitter: false);

    private async Task CommitAsync(List<PendingAppend> batch, int events)
    {
        var stopwatch = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                await _store.AppendAsync(batch.ConvertAll(p => p.Batch));
                Diagnostics.AgentTelemetry.CommitDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
                Diagnostics.AgentTelemetry.CommitSize.Record(events);
                Interlocked.Increment(ref _commits);
                Interlocked.Add(ref _events, events);
                Interlocked.Exchange(ref _failingSince, 0);
                foreach (var p in batch)
                {
                    p.Completion.TrySetResult();
                }

                return;
            }
            catch (Exception ex) when (batch.Count > 1 && _store.IsDuplicate(ex))
            {
                // One conversation's conflict must not fail the others: commit each alone.
                foreach (var p in batch)
                {
                    await CommitAsync([p], p.Batch.Events.Count);
                }

                return;
            }
            catch (Exception ex) when (!_store.IsDuplicate(ex) && stopwatch.Elapsed + CommitBackoff.DelayAfter(attempt) < _options.CommitRetryBudget)
            {
                Interlocked.CompareExchange(ref _failingSince, Stopwatch.GetTimestamp(), 0);
                var delay = CommitBackoff.DelayAfter(attempt);
                LogCommitRetry(ex, batch.Count, delay);
                if (_store.CommitsBlock)
                {
                    // Stays on the writer's own thread, which has nothing else to do meanwhile.
                    Thread.Sleep(delay);
                }
                else
                {
                    await Task.Delay(delay);
                }
            }
            catch (Exception ex)
            {
                // Given up: nothing is being retried now; the next commit says whether the database is back.
                Interlocked.Exchange(ref _failingSince, 0);
                LogCommitFailed(ex, batch.Count);
                foreach (var p in batch)
                {
                    p.Completion.TrySetException(ex);
                }

                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Commit of {Appends} appends failed; retrying in {Delay}")]
    private partial void LogCommitRetry(Exception exception, int appends, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error, Message = "Commit of {Appends} appends failed for good")]
    private partial void LogCommitFailed(Exception exception, int appends);

    private sealed record PendingAppend(AppendBatch Batch, TaskCompletionSource Completion);
}
