using System.Text.Json;
using Agents.Events;
using Agents.Grains.Storage;

namespace Agents.Grains.Conversations;

/// <summary>How a log begins: rebuilt from the store, begun for a new conversation, or begun as a fork.</summary>
internal sealed partial class ConversationLog
{
    /// <summary>Rebuilds the state from the newest snapshot and the events after it; false when nothing is stored.</summary>
    public async Task<bool> LoadAsync(CancellationToken cancellationToken)
    {
        var row = await _store.GetConversationAsync(_id, cancellationToken);
        if (row is null)
        {
            return false;
        }

        ConversationState? state = null;
        if (await _store.ReadSnapshotAsync(_id, cancellationToken) is { } snapshot)
        {
            try
            {
                state = JsonSerializer.Deserialize<ConversationState>(snapshot.State, AgentJson.Options);
                _snapshotSeq = snapshot.Seq;
            }
            catch (JsonException ex)
            {
                LogSnapshotUnreadable(ex, _id);
            }
        }

        state ??= new ConversationState
        {
            Id = _id, Owner = row.Owner, Title = row.Title, CreatedAt = row.CreatedAt, UpdatedAt = row.CreatedAt, ParentId = row.ParentId, Depth = row.Depth,
            ForkedFrom = row.ForkedFrom,
        };
        while (true)
        {
            var page = await _store.ReadEventsAsync(_id, state.LastSeq, ContractLimits.MaxEventsPage, cancellationToken);
            foreach (var e in page)
            {
                state.Apply(e);
            }

            if (page.Count < ContractLimits.MaxEventsPage)
            {
                break;
            }
        }

        State = state;
        _durable = CurrentInfo();
        return true;
    }

    /// <summary>Names the owner and title of a new conversation; stored with its first append or <see cref="SaveAsync"/>.</summary>
    public void Begin(string owner, string title, string? parentId = null, int depth = 0)
    {
        var now = Now();
        (State.Owner, State.Title, State.CreatedAt, State.UpdatedAt, State.ParentId, State.Depth) = (owner, title, now, now, parentId, depth);
    }

    /// <summary>Stores a new conversation that has no events yet; on failure it was never begun.</summary>
    public async Task SaveAsync()
    {
        try
        {
            await _writer.AppendAsync(new AppendBatch(_id, [], ToRecord()));
        }
        catch
        {
            State = new ConversationState { Id = _id };
            throw;
        }
    }

    /// <summary>
    /// Stores a new conversation as a fork: its log starts with <paramref name="copies"/> (another conversation's
    /// events 1..n, same seqs, data and times), in one transaction with its row, and a snapshot when they are many.
    /// Nobody watches a conversation that did not exist, so nothing is published; the copies' usage is no new spend.
    /// On failure it was never begun.
    /// </summary>
    public async Task BeginForkAsync(string owner, string title, ForkOrigin origin, IReadOnlyList<EventEnvelope> copies)
    {
        Begin(owner, title);
        State.ForkedFrom = origin;
        var envelopes = copies.Select(e => e with { ConversationId = _id }).ToArray();
        SnapshotRecord? snapshot = null;
        try
        {
            foreach (var e in envelopes)
            {
                State.Apply(e);
            }

            ConversationRules.RequireForkPoint(State, origin, envelopes.LastOrDefault());
            // Listed as new: a fork is made now, whatever the age of what it copied.
            State.UpdatedAt = State.CreatedAt;
            snapshot = State.LastSeq >= _snapshotEvery ? new SnapshotRecord(_id, State.LastSeq, JsonSerializer.Serialize(State, AgentJson.Options)) : null;
            await _writer.AppendAsync(new AppendBatch(_id, envelopes, ToRecord(), snapshot, CountsUsage: false));
        }
        catch
        {
            State = new ConversationState { Id = _id };
            throw;
        }

        _snapshotSeq = snapshot?.Seq ?? 0;
        _durable = CurrentInfo();
    }
}
