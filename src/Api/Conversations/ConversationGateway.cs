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
    GrainCalls calls,
    IHubContext<AgentHub, IAgentClient> hub,
    IOptions<GatewayOptions> options)
{
    public async Task<ConversationInfo> CreateAsync(string userId, CreateConversation? command, CancellationToken cancellationToken)
    {
        var id = Ids.NewConversationId();
        var body = command ?? new CreateConversation();
        var info = await calls.RetriedAsync("CreateConversation", async repeat =>
        {
            try
            {
                return await Grain(id).CreateAsync(userId, body, cancellationToken);
            }
            catch (ConversationException conflict) when (repeat && conflict.Code == ErrorCodes.Conflict)
            {
                // The id is new and only this call knows it: a conflict on a repeat is the first attempt's success.
                try
                {
                    return await Grain(id).GetInfoAsync(userId, cancellationToken);
                }
                catch (ConversationException)
                {
                    throw conflict;
                }
            }
        }, cancellationToken);
        // The user's other tabs on this gateway list it at once.
        await hub.Clients.User(userId).ConversationCreated(info);
        return info;
    }

    /// <summary>Retried only with a <c>clientMessageId</c>: the grain answers a repeat with the first send's seq.</summary>
    public async Task<SeqResult> SendMessageAsync(string userId, string conversationId, SendMessage? command, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        var body = command ?? throw ConversationException.InvalidArgument("a body { text, clientMessageId? } is required");
        var send = () => Grain(conversationId).SendMessageAsync(userId, body, cancellationToken);
        var seq = body.ClientMessageId is null
            ? await GrainCalls.OnceAsync(send, cancellationToken)
            : await calls.RetriedAsync("SendMessage", _ => send(), cancellationToken);
        return new SeqResult(seq);
    }

    /// <summary>
    /// Retried: a second answer is a conflict, so a repeat that meets one asks whether the log holds this very answer
    /// (the first attempt's, whose reply was lost) and is told its seq.
    /// </summary>
    public async Task<SeqResult> RespondAsync(string userId, string conversationId, Respond? command, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        var body = command ?? throw ConversationException.InvalidArgument("a body { requestId, approved?, text? } is required");
        return new SeqResult(await calls.RetriedAsync("Respond", async repeat =>
        {
            try
            {
                return await Grain(conversationId).RespondAsync(userId, body, cancellationToken);
            }
            catch (ConversationException conflict) when (repeat && conflict.Code == ErrorCodes.Conflict)
            {
                if (await Grain(conversationId).FindAnswerAsync(userId, body, cancellationToken) is { } first)
                {
                    return first;
                }

                throw;
            }
        }, cancellationToken));
    }

    public Task CancelAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return calls.RetriedAsync("Cancel", _ => Grain(conversationId).CancelAsync(userId, cancellationToken), cancellationToken);
    }

    /// <summary>Deletes the conversation (its run cancelled first); its watchers end with <c>not_found</c>.</summary>
    public Task DeleteAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return calls.RetriedAsync("DeleteConversation", async repeat =>
        {
            try
            {
                await Grain(conversationId).DeleteAsync(userId, cancellationToken);
            }
            catch (ConversationException e) when (repeat && e.Code == ErrorCodes.NotFound)
            {
                // It existed for the first attempt (or that one would have been not_found too): that one deleted it.
            }
        }, cancellationToken);
    }

    public Task<ConversationInfo> GetAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return calls.RetriedAsync("GetConversation", _ => Grain(conversationId).GetInfoAsync(userId, cancellationToken), cancellationToken);
    }

    public Task<IReadOnlyList<ConversationInfo>> ListAsync(string userId, int? limit, CancellationToken cancellationToken)
    {
        var max = options.Value.ListLimit;
        if (limit is < 1 or > ContractLimits.MaxListPage)
        {
            throw ConversationException.InvalidArgument($"limit must be between 1 and {ContractLimits.MaxListPage}");
        }

        return calls.RetriedAsync("ListConversations", _ => Directory.ListAsync(userId, limit ?? max, cancellationToken), cancellationToken);
    }

    /// <summary>The sub-agents of one of the user's conversations, oldest first.</summary>
    public Task<IReadOnlyList<ConversationInfo>> ListChildrenAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return calls.RetriedAsync("ListChildren", _ => Directory.ListChildrenAsync(userId, conversationId, cancellationToken), cancellationToken);
    }

    public Task<EventPage> GetEventsAsync(string userId, string conversationId, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        ContractLimits.RequireEventsPage(afterSeq, limit);

        return calls.RetriedAsync("GetEvents", _ => Grain(conversationId).GetEventsAsync(userId, afterSeq, limit, cancellationToken), cancellationToken);
    }

    /// <summary>The transcript JSON (with no runs while none has finished).</summary>
    public Task<string> GetTranscriptAsync(string userId, string conversationId, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        return calls.RetriedAsync("GetTranscript", _ => Directory.GetTranscriptAsync(userId, conversationId, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Forks one of the user's conversations after <see cref="ForkConversation.AfterSeq"/>; the new one's info. Made
    /// once: a repeat would make a second fork.
    /// </summary>
    public async Task<ConversationInfo> ForkAsync(string userId, string conversationId, ForkConversation? command, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        var body = command ?? throw ConversationException.InvalidArgument("a body { afterSeq } is required");
        var info = await GrainCalls.OnceAsync(() => Grain(conversationId).ForkAsync(userId, body.AfterSeq, cancellationToken), cancellationToken);
        await hub.Clients.User(userId).ConversationCreated(info);
        return info;
    }

    /// <summary>The user's token spend today and the daily budget.</summary>
    public Task<UserUsage> GetUsageAsync(string userId, CancellationToken cancellationToken) =>
        calls.RetriedAsync("GetUsage", _ => Directory.GetUsageAsync(userId, cancellationToken), cancellationToken);

    /// <summary>Opens a watch (its own wait for a failover is in <see cref="ConversationWatch"/>); a failure that outlasts it is <c>unavailable</c>.</summary>
    public Task<ConversationWatch> WatchAsync(string userId, string conversationId, long afterSeq, CancellationToken cancellationToken)
    {
        RequireId(conversationId);
        ContractLimits.RequireCursor(afterSeq);
        return GrainCalls.OnceAsync(() => ConversationWatch.OpenAsync(grains, feeds, userId, conversationId, afterSeq, options.Value, cancellationToken), cancellationToken);
    }

    /// <summary>Malformed ids are refused here, before any grain is touched.</summary>
    public static void RequireId(string? conversationId) => Ids.Require(conversationId, "conversationId");

    private IConversationGrain Grain(string conversationId) => grains.GetGrain<IConversationGrain>(conversationId);

    private IConversationDirectoryGrain Directory => grains.GetGrain<IConversationDirectoryGrain>(0);
}
