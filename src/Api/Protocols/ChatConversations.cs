using System.Runtime.CompilerServices;
using Agents.Api.Conversations;
using Agents.Api.Hubs;
using Agents.Api.RateLimiting;
using Agents.Events;
using Microsoft.AspNetCore.SignalR;

namespace Agents.Api.Protocols;

/// <summary>
/// What the front-end protocols add to the gateway: a conversation named by the client's chat or thread id (created
/// for the caller on first use, another user's one is not_found), reads of a run or of the whole log, and the frames
/// of a projection over a watch from a seq on.
/// </summary>
public sealed class ChatConversations(
    IGrainFactory grains,
    ConversationGateway conversations,
    UserRateLimiter limiter,
    IHubContext<AgentHub, IAgentClient> hub)
{
    /// <summary>How far back a read looks at a time for the start of the current run.</summary>
    private const int Window = 500;

    public ConversationGateway Gateway => conversations;

    /// <summary>
    /// Sends the user's message to the conversation <paramref name="conversationId"/>, creating it for the caller
    /// when no conversation has that id; returns the seq of its <c>message.user</c>.
    /// </summary>
    public async Task<long> SendAsync(string userId, string conversationId, string text, string? clientMessageId, CancellationToken cancellationToken)
    {
        ConversationGateway.RequireId(conversationId);
        try
        {
            return (await conversations.SendMessageAsync(userId, conversationId, new SendMessage(text, clientMessageId), cancellationToken)).Seq;
        }
        catch (ConversationException e) when (e.Code == ErrorCodes.NotFound)
        {
            // Unknown, or someone else's: the create below tells which.
        }

        using (var lease = limiter.Acquire(UserRateLimit.Conversations, userId))
        {
            if (!lease.IsAcquired)
            {
                throw new ConversationException(ErrorCodes.RateLimited,
                    UserRateLimiter.Describe(UserRateLimit.Conversations, UserRateLimiter.RetryAfterSeconds(lease)));
            }
        }

        try
        {
            var info = await GrainCalls.OnceAsync(() => grains.GetGrain<IConversationGrain>(conversationId)
                .CreateAsync(userId, new CreateConversation(Text: text, ClientMessageId: clientMessageId), cancellationToken), cancellationToken);
            await hub.Clients.User(userId).ConversationCreated(info);
            // A new conversation's log starts with that message.
            return 1;
        }
        catch (ConversationException e) when (e.Code == ErrorCodes.Conflict)
        {
            // Taken meanwhile: by this user (a second tab) the send goes through, by another it is their not_found.
            return (await conversations.SendMessageAsync(userId, conversationId, new SendMessage(text, clientMessageId), cancellationToken)).Seq;
        }
    }

    /// <summary>The events of the conversation's latest run, from its first event (the message that started it) on.</summary>
    public async Task<IReadOnlyList<EventEnvelope>> ReadLatestRunAsync(string userId, string conversationId, long lastSeq, CancellationToken cancellationToken)
    {
        var newestFirst = new List<EventEnvelope>();
        string? runId = null;
        for (var to = lastSeq; to > 0; to -= Window)
        {
            var from = Math.Max(0, to - Window);
            var page = await conversations.GetEventsAsync(userId, conversationId, from, (int)(to - from), cancellationToken);
            foreach (var e in page.Events.Where(e => e.Seq <= to).Reverse())
            {
                runId ??= e.RunId;
                if (runId is null)
                {
                    continue;
                }

                if (e.RunId != runId)
                {
                    newestFirst.Reverse();
                    return newestFirst;
                }

                newestFirst.Add(e);
            }
        }

        newestFirst.Reverse();
        return newestFirst;
    }

    /// <summary>The whole log up to <paramref name="lastSeq"/>.</summary>
    public async Task<IReadOnlyList<EventEnvelope>> ReadLogAsync(string userId, string conversationId, long lastSeq, CancellationToken cancellationToken)
    {
        var log = new List<EventEnvelope>();
        while (log.Count == 0 || log[^1].Seq < lastSeq)
        {
            var after = log.Count == 0 ? 0 : log[^1].Seq;
            var page = await conversations.GetEventsAsync(userId, conversationId, after, ContractLimits.MaxEventsPage, cancellationToken);
            log.AddRange(page.Events.Where(e => e.Seq <= lastSeq));
            if (page.Events.Count == 0)
            {
                break;
            }
        }

        return log;
    }

    /// <summary>
    /// The frames of <paramref name="apply"/> over the log after <paramref name="afterSeq"/>, live, until the
    /// projection ends its stream, the client goes away, or the watch ends (deleted, fell behind: the client resumes).
    /// </summary>
    public async IAsyncEnumerable<ProtocolFrame> FramesAsync(
        string userId,
        string conversationId,
        long afterSeq,
        Func<EventEnvelope, bool, IReadOnlyList<ProtocolFrame>> apply,
        Func<bool> ended,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var watch = await conversations.WatchAsync(userId, conversationId, afterSeq, cancellationToken);
        var events = watch.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (!ended())
            {
                try
                {
                    if (!await events.MoveNextAsync())
                    {
                        yield break;
                    }
                }
                catch (ConversationException)
                {
                    yield break;
                }

                var e = events.Current;
                var answered = e.Data is InputRequested request && await IsAnsweredAsync(userId, conversationId, e.Seq, request, cancellationToken);
                foreach (var frame in apply(e, answered))
                {
                    yield return frame;
                }
            }
        }
        finally
        {
            await events.DisposeAsync();
        }
    }

    /// <summary>Whether the request's answer is already stored after it (a replay goes on through answered requests).</summary>
    private async Task<bool> IsAnsweredAsync(string userId, string conversationId, long seq, InputRequested request, CancellationToken cancellationToken)
    {
        var page = await conversations.GetEventsAsync(userId, conversationId, seq, ContractLimits.MaxEventsPage, cancellationToken);
        return RunLog.IsAnswered(request, page.Events);
    }
}
