using Agents.Events;

namespace Agents.Grains.Conversations;

/// <summary>Fork: the source checks who asks and where, the new conversation copies the stored prefix.</summary>
internal sealed partial class ConversationGrain
{
    public async Task<ConversationInfo> ForkAsync(string userId, long afterSeq, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        // What is stored: a fork copies from the store, and what is not durable yet may still be lost.
        ConversationRules.RequireForkSeq(afterSeq, _log.Info.LastSeq);
        var fork = GrainFactory.GetGrain<IConversationGrain>(Ids.NewConversationId());
        return await fork.CreateForkAsync(userId, new ForkOrigin(Id, afterSeq), cancellationToken);
    }

    public async Task<ConversationInfo> CreateForkAsync(string userId, ForkOrigin origin, CancellationToken cancellationToken = default)
    {
        _lifecycle.RequireAbsent(Id, userId);
        var source = await store.GetConversationAsync(origin.ConversationId, cancellationToken);
        if (source is null || source.Owner != userId)
        {
            throw ConversationException.NotFound($"conversation {origin.ConversationId} not found");
        }

        var copies = new List<EventEnvelope>();
        while (copies.Count < origin.AfterSeq)
        {
            var page = await store.ReadEventsAsync(origin.ConversationId, copies.Count, (int)Math.Min(ContractLimits.MaxEventsPage, origin.AfterSeq - copies.Count), cancellationToken);
            if (page.Count == 0)
            {
                throw ConversationException.InvalidArgument($"conversation {origin.ConversationId} has no event {copies.Count + 1}");
            }

            copies.AddRange(page);
        }

        // Checked again: other calls ran while the store was read.
        _lifecycle.RequireAbsent(Id, userId);
        _lifecycle = ConversationLifecycle.Active;
        try
        {
            await _log.BeginForkAsync(userId, source.Title, origin, copies);
        }
        catch
        {
            _lifecycle = ConversationLifecycle.Absent;
            throw;
        }

        return _log.Info;
    }
}
