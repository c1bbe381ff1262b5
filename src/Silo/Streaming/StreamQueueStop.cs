namespace Agents.Silo.Streaming;

/// <summary>
/// Tells this silo's <see cref="WaitingStreamQueueGrain"/>s that the silo is stopping, just before the stream provider
/// stops its pulling agents: a waiting read answers at once and no read waits after that, so the agents stop without
/// waiting out <see cref="OrleansHostOptions.StreamQueueWait"/> (Orleans warns about a stage that takes over a second).
/// A queue on another silo still answers within the wait.
/// </summary>
public sealed class StreamQueueStop : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public CancellationToken Stopping => _stopping.Token;

    public void Participate(ISiloLifecycle lifecycle) =>
        // Stages stop in reverse order: this one stops just before Active, where the stream provider stops its agents.
        lifecycle.Subscribe(nameof(StreamQueueStop), ServiceLifecycleStage.Active + 1, _ => Task.CompletedTask, _ =>
        {
            _stopping.Cancel();
            return Task.CompletedTask;
        });

    public void Dispose() => _stopping.Dispose();
}
