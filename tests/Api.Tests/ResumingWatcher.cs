using System.Diagnostics;
using Agents.Events;
using Microsoft.AspNetCore.SignalR.Client;

namespace Agents.Api.Tests;

/// <summary>
/// A client watching one conversation as the web client does: when its watch ends (the server refused or dropped
/// it), it watches again, after a pause, from the last seq it got. What it got across its watches is kept in order,
/// so a test can check that the client saw each event once.
/// </summary>
internal sealed class ResumingWatcher : IAsyncDisposable
{
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    private HubConnection _hub;
    private readonly List<EventEnvelope> _earlier = [];
    private EventRecorder _current;
    private bool _paused;

    public ResumingWatcher(HubConnection hub, string conversationId, long afterSeq = 0)
    {
        _hub = hub;
        ConversationId = conversationId;
        AfterSeq = afterSeq;
        _current = EventRecorder.Start(hub, conversationId, afterSeq);
    }

    public string ConversationId { get; }

    /// <summary>The cursor of the first watch.</summary>
    public long AfterSeq { get; }

    /// <summary>Whether it stopped watching (<see cref="PauseAsync"/>) and has not come back.</summary>
    public bool IsPaused => _paused;

    /// <summary>How many times it watched again.</summary>
    public int Rewatches { get; private set; }

    /// <summary>Everything delivered so far, over all its watches.</summary>
    public IReadOnlyList<EventEnvelope> Events => _paused ? [.. _earlier] : [.. _earlier, .. _current.Events];

    /// <summary>The cursor it would watch again from.</summary>
    public long LastSeq => Events is [.., var last] ? last.Seq : AfterSeq;

    /// <summary>Waits until a delivered event matches, watching again whenever a watch ends; returns the event.</summary>
    public async Task<EventEnvelope> WaitForAsync(Func<EventEnvelope, bool> predicate, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        if (_paused)
        {
            await RewatchAsync();
        }

        while (true)
        {
            if (_earlier.Find(e => predicate(e)) is { } earlier)
            {
                return earlier;
            }

            var left = timeout - stopwatch.Elapsed;
            try
            {
                return await _current.WaitForAsync(predicate, left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1), what);
            }
            catch (InvalidOperationException) when (_current.Ended && stopwatch.Elapsed < timeout)
            {
                await Task.Delay(RetryPause);
                await RewatchAsync();
            }
        }
    }

    /// <summary>
    /// Drops the current watch (as a closed tab or a lost network would) and watches again from <see cref="LastSeq"/>,
    /// over <paramref name="hub"/> when the old connection is gone.
    /// </summary>
    public async Task RewatchAsync(HubConnection? hub = null)
    {
        await PauseAsync();
        _hub = hub ?? _hub;
        _current = EventRecorder.Start(_hub, ConversationId, LastSeq);
        _paused = false;
        Rewatches++;
    }

    /// <summary>Stops watching; <see cref="RewatchAsync"/> comes back from the last seq.</summary>
    public async Task PauseAsync()
    {
        if (!_paused)
        {
            await _current.DisposeAsync();
            _earlier.AddRange(_current.Events);
            _paused = true;
        }
    }

    public async ValueTask DisposeAsync() => await PauseAsync();
}
