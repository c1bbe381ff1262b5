using Agents.Api.Hubs;
using Agents.Api.Streaming;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace Agents.Api.Conversations;

/// <summary>The seq a send or an answer was stored at.</summary>
public sealed record SeqResult(long Seq);

/// <summary>
/// What the hub and the HTTP API have in common: checks the gateway can make without a grain (ids, missing
/// bodies, cursors), then the grain call. Refusals are <see cref="ConversationException"/>s, which each face
/// turns into its own form (a <c>HubException</c>, a problem).
/// </summary>
public sealed class ConversationGateway(
    IGrainFactory grains,
    ConversationFeeds feeds,
    IHubContext<AgentHub, IAgentClient> hub,
    IOptions<GatewayOptions> options)
{
    public async Task<ConversationInfo> CreateAsync(string userId, CreateConversation? command, CancellationToken cancellationToken)
    {
        var id = Ids.NewConversationId();
        var info = await Grain(id).CreateAsync(userId, command ?? new CreateConversation(), cancellationToken);
        // The user's other tabs on this gateway list it at once.
        await hub.Clients.User(userId).ConversationCreated(info);
        return info;
    }

    public async Task<SeqResult> SendMessageAsync(string userId, string conversationId, SendMessage? command, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        var body = command ?? throw ConversationException.InvalidArgument("a body { text, clientMessageId? } is required");
        return new SeqResult(await Grain(conversationId).SendMessageAsync(userId, body, cancellationToken));
    }

    public async Task<SeqResult> RespondAsync(string userId, string conversationId, Respond? command, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        var body = command ?? throw ConversationException.InvalidArgument("a body { requestId, approved?, text? } is required");
        return new SeqResult(await Grain(conversationId).RespondAsync(userId, body, cancellationToken));
    }

    public Task CancelAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return Grain(conversationId).CancelAsync(userId, cancellationToken);
    }

    /// <summary>Deletes the conversation (its run cancelled first); its watchers end with <c>not_found</c>.</summary>
    public Task DeleteAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return Grain(conversationId).DeleteAsync(userId, cancellationToken);
    }

    public Task<ConversationInfo> GetAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return Grain(conversationId).GetInfoAsync(userId, cancellationToken);
    }

    public Task<IReadOnlyList<ConversationInfo>> ListAsync(string userId, int? limit, CancellationToken cancellationToken)
    {
        var max = options.Value.ListLimit;
        if (limit is < 1 or > ContractLimits.MaxListPage)
        {
            throw ConversationException.InvalidArgument($"limit must be between 1 and {ContractLimits.MaxListPage}");
        }

        return grains.GetGrain<IConversationDirectoryGrain>(0).ListAsync(userId, limit ?? max, cancellationToken);
    }

    /// <summary>The sub-agents of one of the user's conversations, oldest first.</summary>
    public Task<IReadOnlyList<ConversationInfo>> ListChildrenAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return grains.GetGrain<IConversationDirectoryGrain>(0).ListChildrenAsync(userId, conversationId, cancellationToken);
    }

    public Task<EventPage> GetEventsAsync(string userId, string conversationId, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        ContractLimits.RequireEventsPage(afterSeq, limit);

        return Grain(conversationId).GetEventsAsync(userId, afterSeq, limit, cancellationToken);
    }

    /// <summary>The transcript JSON (with no runs while none has finished).</summary>
    public Task<string> GetTranscriptAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return grains.GetGrain<IConversationDirectoryGrain>(0).GetTranscriptAsync(userId, conversationId, cancellationToken);
    }

    public Task<ConversationWatch> WatchAsync(string userId, string conversationId, long afterSeq, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        ContractLimits.RequireCursor(afterSeq);
        return ConversationWatch.OpenAsync(grains, feeds, userId, conversationId, afterSeq, options.Value, cancellationToken);
    }

    /// <summary>Malformed ids are refused here, before any grain is touched.</summary>
    public static void RequireId(string? conversationId) => Ids.Require(conversationId, "conversationId");

    private IConversationGrain Grain(string conversationId) => grains.GetGrain<IConversationGrain>(conversationId);
}
