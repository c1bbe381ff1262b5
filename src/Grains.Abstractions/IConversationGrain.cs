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
    /// <summary>The user's conversations, most recently updated first.</summary>
    [Alias("List")]
    Task<IReadOnlyList<ConversationInfo>> ListAsync(string userId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The stored transcript (JSON) of a conversation's finished runs; one with no runs while none has finished.</summary>
    /// <exception cref="ConversationException"><c>not_found</c> for an unknown conversation or another user's.</exception>
    [Alias("GetTranscript")]
    Task<string> GetTranscriptAsync(string userId, string conversationId, CancellationToken cancellationToken = default);
}
