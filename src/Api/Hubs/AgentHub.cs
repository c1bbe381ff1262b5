using System.Runtime.CompilerServices;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Api.Identity;
using Agents.Api.RateLimiting;
using Agents.Api.Streaming;
using Agents.Events;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace Agents.Api.Hubs;

/// <summary>
/// <c>/hubs/agent</c>: the contract's hub. Refusals reach the client as <see cref="HubException"/>s whose
/// message starts with the code (<c>not_found: …</c>); <see cref="ConversationErrorsFilter"/> makes them.
/// </summary>
[Authorize]
public sealed partial class AgentHub(ConversationGateway conversations, ILogger<AgentHub> logger) : Hub<IAgentClient>
{
    public const string Path = "/hubs/agent";

    private string UserId => Context.User.UserId();

    [UserRateLimit(UserRateLimit.Conversations)]
    public Task<ConversationInfo> CreateConversation(CreateConversation? command) =>
        conversations.CreateAsync(UserId, command, Context.ConnectionAborted);

    [UserRateLimit(UserRateLimit.Sends)]
    public Task<SeqResult> SendMessage(string conversationId, SendMessage? command) =>
        conversations.SendMessageAsync(UserId, conversationId, command, Context.ConnectionAborted);

    [UserRateLimit(UserRateLimit.Sends)]
    public Task<SeqResult> Respond(string conversationId, Respond? command) =>
        conversations.RespondAsync(UserId, conversationId, command, Context.ConnectionAborted);

    public Task Cancel(string conversationId) =>
        conversations.CancelAsync(UserId, conversationId, Context.ConnectionAborted);

    /// <summary>Deletes the conversation; its watchers end with <c>not_found</c>.</summary>
    public Task DeleteConversation(string conversationId) =>
        conversations.DeleteAsync(UserId, conversationId, Context.ConnectionAborted);

    public Task<ConversationInfo> GetConversation(string conversationId) =>
        conversations.GetAsync(UserId, conversationId, Context.ConnectionAborted);

    public Task<IReadOnlyList<ConversationInfo>> ListConversations() =>
        conversations.ListAsync(UserId, limit: null, Context.ConnectionAborted);

    public Task<IReadOnlyList<ConversationInfo>> ListChildren(string conversationId) =>
        conversations.ListChildrenAsync(UserId, conversationId, Context.ConnectionAborted);

    /// <summary>Forks the conversation after <paramref name="afterSeq"/> (as <c>POST /api/conversations/{id}/fork</c>).</summary>
    [UserRateLimit(UserRateLimit.Conversations)]
    public Task<ConversationInfo> ForkConversation(string conversationId, long afterSeq) =>
        conversations.ForkAsync(UserId, conversationId, new ForkConversation(afterSeq), Context.ConnectionAborted);

    /// <summary>The caller's token spend today and the daily budget (as <c>GET /api/usage</c>).</summary>
    public Task<UserUsage> GetUsage() => conversations.GetUsageAsync(UserId, Context.ConnectionAborted);

    /// <summary>
    /// Every event with seq above <paramref name="afterSeq"/>, then live events, until the client cancels.
    /// A client that loses the stream watches again with the last seq it got.
    /// </summary>
    public IAsyncEnumerable<EventEnvelope> Watch(string conversationId, long afterSeq, CancellationToken cancellationToken)
    {
        // Checked now, so a malformed call fails at once rather than on the first item.
        ConversationGateway.RequireId(conversationId);
        return WatchAsync(UserId, conversationId, afterSeq, static (watch, token) => watch.ReadAllAsync(token), cancellationToken);
    }

    /// <summary>
    /// What <see cref="Watch"/> sends, in batches (an addition to the contract): each item a non-empty array of
    /// events whose seqs are consecutive and continue the item before. A replay comes a stored page an item, so a
    /// long conversation costs a few messages instead of one per event.
    /// </summary>
    public IAsyncEnumerable<EventEnvelope[]> WatchBatches(string conversationId, long afterSeq, CancellationToken cancellationToken)
    {
        ConversationGateway.RequireId(conversationId);
        return WatchAsync(UserId, conversationId, afterSeq, static (watch, token) => watch.ReadBatchesAsync(token), cancellationToken);
    }

    private async IAsyncEnumerable<T> WatchAsync<T>(
        string userId, string conversationId, long afterSeq, Func<ConversationWatch, CancellationToken, IAsyncEnumerable<T>> read,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Errors thrown while streaming bypass hub filters: translate them here.
        ConversationWatch watch;
        try
        {
            watch = await conversations.WatchAsync(userId, conversationId, afterSeq, cancellationToken);
        }
        catch (ConversationException ex)
        {
            // unavailable included: the gateway's opening of a watch translates another process's failure.
            throw new HubException(ex.Message);
        }

        using (watch)
        {
            await using var events = read(watch, cancellationToken).GetAsyncEnumerator(cancellationToken);
            while (true)
            {
                try
                {
                    if (!await events.MoveNextAsync())
                    {
                        yield break;
                    }
                }
                catch (ConversationException ex)
                {
                    throw new HubException(ex.Message);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // Any other failure of a watch under way (another process's, or one nobody classified yet): the
                    // client watches again from its last seq, as after unavailable, rather than see a generic error.
                    LogWatchFailed(logger, ex, conversationId);
                    throw new HubException(TransportFailures.Unavailable(ex).Message);
                }

                yield return events.Current;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of {ConversationId} failed; the client is told unavailable and watches again")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception, string conversationId);
}

/// <summary>Turns a <see cref="ConversationException"/> from a hub method into the <see cref="HubException"/> the client sees.</summary>
public sealed class ConversationErrorsFilter : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(invocationContext);
        }
        catch (ConversationException ex)
        {
            throw new HubException(ex.Message, ex);
        }
        catch (Exception ex) when (TransportFailures.IsTransient(ex, invocationContext.Context.ConnectionAborted))
        {
            // A failure of another process that no call site translated: the contract's unavailable all the same.
            throw new HubException(TransportFailures.Unavailable(ex).Message, ex);
        }
    }
}

/// <summary>SignalR's user id is the token's <c>sub</c> (so <c>Clients.User</c> reaches the user's connections).</summary>
public sealed class SubjectUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) => connection.User.FindFirst(TokenIssuer.UserClaim)?.Value;
}
