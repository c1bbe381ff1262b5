using Agents.Events;

namespace Agents.Grains.Storage;

/// <summary>
/// The durable home of conversations: their event logs, snapshots, rows and transcripts.
/// One contract, one implementation per database.
/// </summary>
public interface IEventStore
{
    /// <summary>Creates or upgrades the schema; safe to call on every start.</summary>
    Task MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes every batch in one transaction: all of it is stored, or none of it.
    /// A batch whose seqs are already taken fails the whole call (it means two writers for one conversation).
    /// </summary>
    Task AppendAsync(IReadOnlyList<AppendBatch> batches, CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether <see cref="AppendAsync"/> holds its thread for the whole commit, fsync included (an embedded
    /// database); the <see cref="EventLogWriter"/> then gives it a thread of its own instead of one of the pool's.
    /// </summary>
    bool CommitsBlock => false;

    /// <summary>Up to <paramref name="limit"/> events with seq above <paramref name="afterSeq"/>, ascending.</summary>
    Task<IReadOnlyList<EventEnvelope>> ReadEventsAsync(string conversationId, long afterSeq, int limit, CancellationToken cancellationToken = default);

    /// <summary>The conversation's row, or null.</summary>
    Task<ConversationRecord?> GetConversationAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>The owner's conversations, most recently updated first.</summary>
    Task<IReadOnlyList<ConversationRecord>> ListConversationsAsync(string owner, int limit, CancellationToken cancellationToken = default);

    /// <summary>The sub-agents of <paramref name="parentId"/>, oldest first.</summary>
    Task<IReadOnlyList<ConversationRecord>> ListChildrenAsync(string parentId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ids of the conversations whose run needs its loop: running, not waiting for the user (a waiting run needs
    /// nothing until the answer comes, and the answer wakes it).
    /// </summary>
    Task<IReadOnlyList<string>> ListRunningAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// How many of <paramref name="owner"/>'s conversations other than <paramref name="exceptConversationId"/> have a
    /// run (running or waiting), as of the last commit: the per-user cap on running conversations counts these.
    /// </summary>
    Task<int> CountActiveAsync(string owner, string exceptConversationId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The tokens <paramref name="owner"/>'s model calls spent on the UTC day <paramref name="day"/> (see
    /// <see cref="UsageDay"/>), as of the last commit; deleting a conversation takes nothing back.
    /// </summary>
    Task<TokenUsage> GetUsageAsync(string owner, string day, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the conversation's events, snapshot, transcripts and row in one transaction; a conversation that is
    /// not stored is no error.
    /// </summary>
    Task DeleteConversationAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>The latest snapshot of the conversation, or null.</summary>
    Task<SnapshotRecord?> ReadSnapshotAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>The stored transcripts of the conversation's finished runs, oldest first.</summary>
    Task<IReadOnlyList<TranscriptRecord>> ReadTranscriptAsync(string conversationId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether <paramref name="exception"/> from <see cref="AppendAsync"/> means a seq was already stored: a second
    /// writer for one conversation, which retrying cannot mend.
    /// </summary>
    bool IsDuplicate(Exception exception);

    /// <summary>Throws unless the database answers and would accept a write now (for readiness probes).</summary>
    Task CheckWritableAsync(CancellationToken cancellationToken = default);
}

/// <summary>What one conversation writes in one go: events and, with them, its row, a snapshot and a finished run's transcript.</summary>
/// <param name="ConversationId">The conversation.</param>
/// <param name="Events">Events with consecutive seqs, possibly none.</param>
/// <param name="Conversation">The conversation's row as of the last event.</param>
/// <param name="Snapshot">A snapshot as of the last event, now and then.</param>
/// <param name="Transcript">The transcript of the run that ended, if one did.</param>
/// <param name="CountsUsage">
/// Whether the usage on these events is new spend for the owner's day; false for a fork's copies of its source's events.
/// </param>
/// <param name="StoresRow">
/// Whether <paramref name="Conversation"/> is written. False for a batch of nothing but message deltas: the row's
/// <c>updated_at</c> and <c>last_seq</c> then wait for the next batch that stores it (the message's end at the
/// latest), which keeps an indexed update off every streamed piece. Nothing reads them back to rebuild a
/// conversation: its events and snapshot are the truth.
/// </param>
public sealed record AppendBatch(
    string ConversationId,
    IReadOnlyList<EventEnvelope> Events,
    ConversationRecord Conversation,
    SnapshotRecord? Snapshot = null,
    TranscriptRecord? Transcript = null,
    bool CountsUsage = true,
    bool StoresRow = true);

/// <summary>The day a token budget counts: the UTC date, as <c>yyyy-MM-dd</c>.</summary>
public static class UsageDay
{
    public static string Of(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>When the day of <paramref name="at"/> ends and a daily budget starts again.</summary>
    public static DateTimeOffset EndOf(DateTimeOffset at) => new DateTimeOffset(at.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);
}

/// <summary>A row of the <c>conversations</c> table.</summary>
public sealed record ConversationRecord(
    string Id,
    string Owner,
    string Title,
    ConversationStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long LastSeq,
    RunOutcome? LastRunOutcome,
    string? ParentId = null,
    int Depth = 0,
    ForkOrigin? ForkedFrom = null)
{
    /// <summary>The contract's view of the row.</summary>
    public ConversationInfo ToInfo() => new(Id, Title, Status, CreatedAt, UpdatedAt, LastSeq, LastRunOutcome, ParentId, ForkedFrom);
}

/// <summary>The conversation's state folded up to <paramref name="Seq"/>, as JSON.</summary>
public sealed record SnapshotRecord(string ConversationId, long Seq, string State);

/// <summary>
/// The transcript of one finished run, as JSON: written once when the run ends, so a long conversation costs
/// one row per run rather than a growing document rewritten at every run's end.
/// </summary>
public sealed record TranscriptRecord(
    string ConversationId,
    string RunId,
    string Owner,
    RunOutcome Outcome,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    long LastSeq,
    string Transcript);
