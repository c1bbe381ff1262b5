using Agents.Events;
using Microsoft.AspNetCore.SignalR.Client;

namespace Agents.Api.Tests;

/// <summary>Runs a hub <c>Watch</c> in the background and records what it delivers, for tests to wait on.</summary>
internal sealed class EventRecorder : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    private readonly Lock _lock = new();
    private readonly List<EventEnvelope> _events = [];
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reading;

    private EventRecorder(HubConnection connection, string conversationId, long afterSeq)
    {
        _reading = ReadAsync(connection, conversationId, afterSeq);
    }

    public Exception? Error { get; private set; }

    public bool Ended { get; private set; }

    public IReadOnlyList<EventEnvelope> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    public static EventRecorder Start(HubConnection connection, string conversationId, long afterSeq = 0) => new(connection, conversationId, afterSeq);

    /// <summary>Waits until a delivered event matches; returns it.</summary>
    public async Task<EventEnvelope> WaitForAsync(Func<EventEnvelope, bool> predicate, TimeSpan? timeout = null, string? what = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_events.Find(e => predicate(e)) is { } found)
                {
                    return found;
                }

                if (Ended)
                {
                    throw new InvalidOperationException($"The watch ended before {what ?? "the expected event"}.", Error);
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"Timed out waiting for {what ?? "an event"}; got {string.Join(", ", Events.Select(e => $"{e.Seq}:{e.Type}"))}");
            }
        }
    }

    public Task<EventEnvelope> WaitForTypeAsync(string type, TimeSpan? timeout = null) => WaitForAsync(e => e.Type == type, timeout, type);

    /// <summary>Waits until the watch itself ends (an error or the server completing it).</summary>
    public async Task WaitForEndAsync(TimeSpan? timeout = null) => await _reading.WaitAsync(timeout ?? DefaultTimeout);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _reading.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
        }

        _stop.Dispose();
    }

    private async Task ReadAsync(HubConnection connection, string conversationId, long afterSeq)
    {
        await Task.Yield();
        try
        {
            await foreach (var e in connection.StreamAsync<EventEnvelope>("Watch", conversationId, afterSeq, _stop.Token))
            {
                lock (_lock)
                {
                    _events.Add(e);
                    Signal();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Error = ex;
        }
        finally
        {
            lock (_lock)
            {
                Ended = true;
                Signal();
            }
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
