using System.Text.Json;
using Agents.Events;
using Agents.Grains.Diagnostics;
using Agents.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Agents.Grains.Conversations;

/// <summary>
/// A conversation's log: the only owner of its <see cref="ConversationState"/> and the only caller of the writer.
/// <para>
/// <b>Durable before visible lives here.</b> <see cref="Append"/> gives events their seqs and applies them to
/// <see cref="State"/> at once (the tentative state the loop decides on), then hands them to the group-commit writer.
/// Nothing else learns of them until the write has succeeded: <see cref="Info"/> and <see cref="ReadPageAsync"/>
/// answer as of the last durable event, <see cref="AppendAsync"/> returns only then, and batches reach the publisher
/// (the grain's <see cref="ConversationPublisher"/>, called by this class alone) in seq order, each only once it is
/// stored. A write that fails for good breaks
/// the log: nothing after it is published or appended, and the grain reloads from what is stored.
/// </para>
/// Runs on its grain's scheduler like the grain itself: every method is called in one of the grain's turns.
/// </summary>
internal sealed partial class ConversationLog
{
    private readonly string _id;
    private readonly IEventStore _store;
    private readonly EventLogWriter _writer;
    private readonly Func<EventEnvelope[], Task> _publish;
    private readonly TimeProvider _time;
    private readonly int _snapshotEvery;
    private readonly Action<Exception> _onBroken;
    private readonly ILogger _logger;
    private readonly Queue<(Task Durable, EventEnvelope[] Events)> _unpublished = new();
    private ConversationInfo _durable;
    private long _snapshotSeq;
    private Task _publishing = Task.CompletedTask;
    private Exception? _failure;

    public ConversationLog(
        string id,
        IEventStore store,
        EventLogWriter writer,
        Func<EventEnvelope[], Task> publish,
        int maxEvents,
        int snapshotEvery,
        TimeProvider time,
        Action<Exception> onBroken,
        ILogger logger)
    {
        (_id, _store, _writer, _publish, _time, _snapshotEvery, _onBroken, _logger) =
            (id, store, writer, publish, time, snapshotEvery, onBroken, logger);
        MaxEvents = maxEvents;
        State = new ConversationState { Id = id };
        _durable = CurrentInfo();
    }

    /// <summary>The fold of every appended event, durable or not yet: what the conversation decides on.</summary>
    public ConversationState State { get; private set; }

    /// <summary>The conversation as of its last durable event: a status is never shown before its event is stored.</summary>
    public ConversationInfo Info => _durable.LastSeq >= State.LastSeq ? CurrentInfo() : _durable;

    /// <summary>The newest write, until it is durable; streamed text merges while it is in flight.</summary>
    public Task InFlight { get; private set; } = Task.CompletedTask;

    /// <summary>Whether a write failed for good: the state is ahead of the store and the log takes nothing more.</summary>
    public bool IsBroken => _failure is not null;

    /// <summary>The most events the log may hold; room to close the active run is always kept below it.</summary>
    public int MaxEvents { get; }

    /// <summary>Whether <paramref name="events"/> fit under <see cref="MaxEvents"/> with room left to close the run.</summary>
    public bool Fits(params ConversationEvent[] events) => ConversationRules.Fits(State, events, MaxEvents);

    /// <summary>
    /// Gives the events their seqs and applies them now; they become durable in order and are published after, each
    /// batch only once stored. A caller that needs them stored awaits <see cref="AppendedBatch.Durable"/> (or calls
    /// <see cref="AppendAsync"/>); streamed text does not wait.
    /// </summary>
    /// <exception cref="LogFullException">They do not fit (<see cref="Fits"/>); nothing was appended.</exception>
    /// <exception cref="InvalidOperationException">The log is broken (<see cref="IsBroken"/>).</exception>
    public AppendedBatch Append(string? runId, params ConversationEvent[] events)
    {
        if (_failure is not null)
        {
            throw new InvalidOperationException($"Conversation {_id} is reloading after a storage failure; retry.", _failure);
        }

        if (!Fits(events))
        {
            throw new LogFullException(MaxEvents);
        }

        var at = Now();
        var envelopes = new List<EventEnvelope>(events.Length + 1);
        var terminal = false;
        foreach (var e in events)
        {
            envelopes.Add(new EventEnvelope(State.LastSeq + 1, _id, runId, at, e));
            State.Apply(envelopes[^1]);
            if (EventTypes.IsTerminal(e.Type))
            {
                terminal = true;
                AgentTelemetry.RunsEnded.Add(1, AgentTelemetry.Outcome(e.Type["run.".Length..]));
            }
        }

        // Written with the run it ends, before the next run starts.
        var transcript = terminal ? Transcripts.BuildLastRun(State) : null;
        if (terminal && State.ActiveRun is null && State.Queue.Count > 0 && Fits(new RunStarted()))
        {
            // A queued message starts its run in the same batch that ends the one before: no crash can leave a
            // queue without a run, and the loop goes on with it.
            envelopes.Add(new EventEnvelope(State.LastSeq + 1, _id, Ids.NewRunId(), at, new RunStarted()));
            State.Apply(envelopes[^1]);
            AgentTelemetry.RunsStarted.Add(1);
        }

        AgentTelemetry.EventsAppended.Add(envelopes.Count);
        SnapshotRecord? snapshot = null;
        if (State.LastSeq - _snapshotSeq >= _snapshotEvery)
        {
            snapshot = new SnapshotRecord(_id, State.LastSeq, JsonSerializer.Serialize(State, AgentJson.Options));
            _snapshotSeq = State.LastSeq;
        }

        EventEnvelope[] batch = [.. envelopes];
        // Deltas change nothing in the row but its updated_at and last_seq, which may wait for the message's next other event.
        var storesRow = !envelopes.TrueForAll(e => e.Data is MessageDeltaStreamed);
        var durable = WriteAsync(new AppendBatch(_id, batch, ToRecord(), snapshot, transcript, StoresRow: storesRow), CurrentInfo());
        InFlight = durable;
        _unpublished.Enqueue((durable, batch));
        if (_publishing.IsCompleted)
        {
            _publishing = PublishDurableAsync();
        }

        return new AppendedBatch(batch, durable);
    }

    /// <summary><see cref="Append"/>, returning once the events are durable.</summary>
    public async Task<EventEnvelope[]> AppendAsync(string? runId, params ConversationEvent[] events)
    {
        var appended = Append(runId, events);
        await appended.Durable;
        return appended.Events;
    }

    /// <summary>Stored events after <paramref name="afterSeq"/>, with the last seq as of the last durable event.</summary>
    public async Task<EventPage> ReadPageAsync(long afterSeq, int limit, CancellationToken cancellationToken)
    {
        var events = await _store.ReadEventsAsync(_id, afterSeq, limit, cancellationToken);
        return new EventPage(events, Math.Max(_durable.LastSeq, events.Count > 0 ? events[^1].Seq : 0));
    }

    /// <summary>Until what was appended so far has been published (or its publishing given up).</summary>
    public Task WhenPublished() => _publishing;

    /// <summary>
    /// Removes the conversation from the store once nothing of it is in flight, then tells watchers it is gone. The
    /// caller has made sure nothing appends any more.
    /// </summary>
    public async Task DeleteAsync(CancellationToken cancellationToken)
    {
        // The writer commits a conversation's appends in the order they were queued: once the newest is durable,
        // nothing of this conversation is on its way to the store.
        await InFlight;
        await _store.DeleteConversationAsync(_id, cancellationToken);
        State = new ConversationState { Id = _id };
        _durable = CurrentInfo();
        // Watchers get what was published before, then the end.
        await _publishing;
        await _publish([]);
    }

    private async Task WriteAsync(AppendBatch batch, ConversationInfo info)
    {
        try
        {
            await _writer.AppendAsync(batch);
        }
        catch (Exception ex)
        {
            // In the turn the failure arrives in, before whoever awaits this write: nothing goes on top of it.
            Break(ex);
            throw;
        }

        if (info.LastSeq > _durable.LastSeq)
        {
            _durable = info;
        }
    }

    private async Task PublishDurableAsync()
    {
        while (_unpublished.TryPeek(out var next))
        {
            try
            {
                await next.Durable;
            }
            catch
            {
                // Break has cleared the queue: nothing appended after a failed write is ever shown.
                return;
            }

            _unpublished.Dequeue();
            var events = next.Events;
            // Whatever else became durable meanwhile goes out in the same message.
            while (_unpublished.TryPeek(out var more) && more.Durable.IsCompletedSuccessfully)
            {
                _unpublished.Dequeue();
                events = [.. events, .. more.Events];
            }

            await _publish(events);
        }
    }

    /// <summary>A write failed for good: the state in memory is ahead of the log. Take nothing more; the grain reloads.</summary>
    private void Break(Exception ex)
    {
        if (_failure is not null)
        {
            return;
        }

        _failure = ex;
        _unpublished.Clear();
        LogBroken(ex, _id);
        _onBroken(ex);
    }

    private ConversationRecord ToRecord() =>
        new(_id, State.Owner, State.Title, State.Status, State.CreatedAt, State.UpdatedAt, State.LastSeq, State.LastRunOutcome, State.ParentId, State.Depth, State.ForkedFrom);

    private ConversationInfo CurrentInfo() =>
        new(_id, State.Title, State.Status, State.CreatedAt, State.UpdatedAt, State.LastSeq, State.LastRunOutcome, State.ParentId, State.ForkedFrom);

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
}
