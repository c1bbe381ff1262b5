using Agents.Events;

namespace Agents.Grains.Conversations;

/// <summary>The conversation as a sub-agent of another, and as the parent its sub-agents report to.</summary>
internal sealed partial class ConversationGrain
{
    public async Task<ConversationInfo> StartAsSubagentAsync(SubagentStart start, CancellationToken cancellationToken = default)
    {
        if (_lifecycle == ConversationLifecycle.Active && State.ParentId == start.ParentId && State.Owner == start.UserId)
        {
            // Started before this parent's activation asked again (a crash between the two): once is enough.
            return _log.Info;
        }

        var title = ConversationRules.RequireCreatable(new CreateConversation(start.Title, start.Prompt), _options.MaxMessageChars);
        _lifecycle.RequireAbsent(Id, start.UserId);
        await RunAdmission.RequireSlotAsync(store, start.UserId, Id, _options.MaxRunningConversationsPerUser);
        if (_lifecycle == ConversationLifecycle.Active && State.ParentId == start.ParentId)
        {
            return _log.Info;
        }

        _lifecycle.RequireAbsent(Id, start.UserId);
        _lifecycle = ConversationLifecycle.Active;
        _log.Begin(start.UserId, title, start.ParentId, start.Depth);
        await StartRunAsync(start.Prompt, clientMessageId: null);
        return _log.Info;
    }

    public Task<SubagentOutcome?> GetSubagentOutcomeAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        // As of the log: an end is reported once it is durable.
        if (_log.Info is not { Status: ConversationStatus.Idle, LastRunOutcome: { } outcome } || State.Runs.Count == 0)
        {
            return Task.FromResult<SubagentOutcome?>(null);
        }

        var run = State.Runs[^1];
        var text = State.History.OfType<AssistantItem>().LastOrDefault(a => a.RunId == run.RunId && !string.IsNullOrEmpty(a.Text))?.Text;
        return Task.FromResult<SubagentOutcome?>(new SubagentOutcome(outcome, text, run.Error));
    }

    public Task SubagentEndedAsync(string childId, CancellationToken cancellationToken = default)
    {
        _subagents.ChildEnded();
        return Task.CompletedTask;
    }

    /// <summary>A sub-agent whose run ended tells its parent, once the end is durable; the parent's poll covers a lost word.</summary>
    private async Task TellParentAsync()
    {
        if (State.ParentId is not { } parentId)
        {
            return;
        }

        try
        {
            await _log.InFlight;
            await GrainFactory.GetGrain<IConversationGrain>(parentId).SubagentEndedAsync(Id);
        }
        catch (Exception ex)
        {
            LogParentNotTold(ex, Id, parentId);
        }
    }
}
