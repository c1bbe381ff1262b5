using Agents.Grains.Agent;
using Agents.Grains.Storage;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Agents.Grains.Conversations;

/// <summary>Answers questions across conversations from the store, so listing activates no conversation.</summary>
[StatelessWorker]
internal sealed class ConversationDirectoryGrain(IEventStore store, IOptions<AgentOptions> options, TimeProvider time) : Grain, IConversationDirectoryGrain
{
    public Task<UserUsage> GetUsageAsync(string userId, CancellationToken cancellationToken = default) =>
        new TokenBudget(store, options.Value, time).TodayAsync(userId, cancellationToken);

    public async Task<IReadOnlyList<ConversationInfo>> ListAsync(string userId, int limit, CancellationToken cancellationToken = default)
    {
        var rows = await store.ListConversationsAsync(userId, Math.Clamp(limit, 1, ContractLimits.MaxListPage), cancellationToken);
        return rows.Select(r => r.ToInfo()).ToList();
    }

    public async Task<IReadOnlyList<ConversationInfo>> ListChildrenAsync(string userId, string conversationId, CancellationToken cancellationToken = default)
    {
        var row = await store.GetConversationAsync(conversationId, cancellationToken);
        if (row is null || row.Owner != userId)
        {
            throw ConversationException.NotFound($"conversation {conversationId} not found");
        }

        return [.. (await store.ListChildrenAsync(conversationId, cancellationToken)).Select(r => r.ToInfo())];
    }

    public async Task<string> GetTranscriptAsync(string userId, string conversationId, CancellationToken cancellationToken = default)
    {
        var row = await store.GetConversationAsync(conversationId, cancellationToken);
        if (row is null || row.Owner != userId)
        {
            throw ConversationException.NotFound($"conversation {conversationId} not found");
        }

        // A conversation with no finished run yet has a transcript with no runs.
        return Transcripts.Document(row, await store.ReadTranscriptAsync(conversationId, cancellationToken));
    }
}
