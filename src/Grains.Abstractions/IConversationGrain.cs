namespace Agents;

/// <summary>
/// One conversation: it owns the agent loop and the conversation's event log. Keyed by the conversation id.
/// Every method takes the calling user; a conversation of another user is <c>not_found</c>.
/// </summary>
[Alias("agents.IConversationGrain")]
public interface IConversationGrain : IGrainWithStringKey
{
    /// <summary>Creates the conversation for <paramref name="userId"/>; with a text, its first run starts.</summary>
    /// <exception cref="ConversationException"><c>conflict</c> when the id is taken.</exception>
    [Alias("Create")]
    Task<ConversationInfo> CreateAsync(string userId, CreateConversation command, CancellationToken cancellationToken = default);

    /// <summary>Appends a user message and returns its seq; starts a run when idle.</summary>
    [Alias("SendMessage")]
    Task<long> SendMessageAsync(string userId, SendMessage command, CancellationToken cancellationToken = default);

    /// <summary>Answers an open input request and returns the seq of <c>input.received</c>.</summary>
    [Alias("Respond")]
    Task<long> RespondAsync(string userId, Respond command, CancellationToken cancellationToken = default);

    /// <summary>
    /// The seq of this very answer if the request already got it, else null: how a caller that retried a
    /// <see cref="RespondAsync"/> after a lost reply tells its own first success from another answer (a conflict).
    /// </summary>
    [Alias("FindAnswer")]
    Task<long?> FindAnswerAsync(string userId, Respond command, CancellationToken cancellationToken = default);

    /// <summary>
    /// Forks this conversation: a new conversation of the same user whose log begins with copies of events
    /// 1..<paramref name="afterSeq"/> (same seqs and data). Returns the new conversation's info.
    /// </summary>
    /// <exception cref="ConversationException"><c>invalid_argument</c> when <paramref name="afterSeq"/> is past the stored log or inside a run.</exception>
    [Alias("Fork")]
    Task<ConversationInfo> ForkAsync(string userId, long afterSeq, CancellationToken cancellationToken = default);

    /// <summary>Creates this conversation as a fork of <paramref name="origin"/>, copying its events from the store.</summary>
    [Alias("CreateFork")]
    Task<ConversationInfo> CreateForkAsync(string userId, ForkOrigin origin, CancellationToken cancellationToken = default);

    /// <summary>Cancels the active run, if any; returns once <c>run.cancelled</c> is stored.</summary>
    [Alias("Cancel")]
    Task CancelAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the conversation: cancels its run as <see cref="CancelAsync"/> does, then removes its log, snapshot,
    /// transcripts and row; from then on it is <c>not_found</c> everywhere, and its watchers are ended.
    /// </summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation, another user's, or one already deleted.</exception>
    [Alias("Delete")]
    Task DeleteAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Reads up to <paramref name="limit"/> durable events with seq above <paramref name="afterSeq"/>.</summary>
    [Alias("GetEvents")]
    Task<EventPage> GetEventsAsync(string userId, long afterSeq, int limit, CancellationToken cancellationToken = default);

    /// <summary>The conversation's info.</summary>
    [Alias("GetInfo")]
    Task<ConversationInfo> GetInfoAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates this conversation as a sub-agent of <see cref="SubagentStart.ParentId"/> and starts its run with the
    /// task's prompt. Idempotent: a child that exists already for that parent is left as it is (a resumed parent starts
    /// its children again and must not start them twice).
    /// </summary>
    /// <exception cref="ConversationException"><c>conflict</c> when the id is another conversation's; <c>rate_limited</c> over the user's cap.</exception>
    [Alias("StartAsSubagent")]
    Task<ConversationInfo> StartAsSubagentAsync(SubagentStart start, CancellationToken cancellationToken = default);

    /// <summary>How this sub-agent's run ended, once its end is durable; null while it runs.</summary>
    [Alias("GetSubagentOutcome")]
    Task<SubagentOutcome?> GetSubagentOutcomeAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>Told by a sub-agent whose run ended, so the waiting parent looks now rather than at its next poll.</summary>
    [Alias("SubagentEnded")]
    Task SubagentEndedAsync(string childId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Activates the conversation so that an unfinished run resumes; called by the silo's startup task
    /// and durable wake-ups, never needed by clients.
    /// </summary>
    [Alias("Wake")]
    Task WakeAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// Reads across conversations straight from the store, without activating their grains.
/// </summary>
[Alias("agents.IConversationDirectoryGrain")]
public interface IConversationDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>The user's top-level conversations (not sub-agents), most recently updated first.</summary>
    [Alias("List")]
    Task<IReadOnlyList<ConversationInfo>> ListAsync(string userId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The sub-agents of one of the user's conversations, oldest first.</summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation or another user's.</exception>
    [Alias("ListChildren")]
    Task<IReadOnlyList<ConversationInfo>> ListChildrenAsync(string userId, string conversationId, CancellationToken cancellationToken = default);

    /// <summary>The stored transcript (JSON) of a conversation's finished runs; one with no runs while none has finished.</summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation or another user's.</exception>
    [Alias("GetTranscript")]
    Task<string> GetTranscriptAsync(string userId, string conversationId, CancellationToken cancellationToken = default);

    /// <summary>The user's token spend today and the daily budget, counted in the store.</summary>
    [Alias("GetUsage")]
    Task<UserUsage> GetUsageAsync(string userId, CancellationToken cancellationToken = default);
}

/// <summary>What a parent asks of a new sub-agent.</summary>
/// <param name="UserId">The parent's owner, who owns the child too.</param>
/// <param name="ParentId">The parent conversation.</param>
/// <param name="Depth">The child's depth: the parent's plus one.</param>
/// <param name="Title">The task's title.</param>
/// <param name="Prompt">The task's prompt: the child's first message.</param>
[GenerateSerializer, Immutable, Alias("agents.SubagentStart")]
public sealed record SubagentStart(
    [property: Id(0)] string UserId,
    [property: Id(1)] string ParentId,
    [property: Id(2)] int Depth,
    [property: Id(3)] string Title,
    [property: Id(4)] string Prompt);

/// <summary>How a sub-agent's run ended.</summary>
/// <param name="Outcome">Completed, failed or cancelled.</param>
/// <param name="Text">Its last assistant message, if any.</param>
/// <param name="Error">Why it failed, if it did.</param>
[GenerateSerializer, Immutable, Alias("agents.SubagentOutcome")]
public sealed record SubagentOutcome(
    [property: Id(0)] RunOutcome Outcome,
    [property: Id(1)] string? Text,
    [property: Id(2)] Events.ErrorInfo? Error);
