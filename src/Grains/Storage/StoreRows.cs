using Agents.Events;

namespace Agents.Grains.Storage;

/// <summary>The rows as both stores read and write them: times as Unix milliseconds, statuses as the contract's words.</summary>
internal static class StoreRows
{
    internal sealed class EventRow
    {
        public long Seq { get; init; }
        public string? RunId { get; init; }
        public string Type { get; init; } = "";
        public long At { get; init; }
        public string Data { get; init; } = "";

        public EventEnvelope ToEnvelope(string conversationId) =>
            new(Seq, conversationId, RunId, DateTimeOffset.FromUnixTimeMilliseconds(At), Type, Data);
    }

    /// <summary>
    /// A user's token spend on one UTC day, summed from the usage that model calls recorded in the log: the stores add
    /// it up in the transaction that stores those events, so the budget holds across restarts and a cluster.
    /// </summary>
    internal sealed record UsageRow(string Owner, string Day, long InputTokens, long OutputTokens)
    {
        public const string Select =
            """
            SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS InputTokens, CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS OutputTokens
            FROM user_usage WHERE owner = @owner AND day = @day;
            """;

        /// <summary>One row per user and day the batches spent tokens on (a key once, as one upsert needs).</summary>
        public static List<UsageRow> From(IEnumerable<AppendBatch> batches) =>
        [
            .. batches.Where(b => b.CountsUsage)
                .SelectMany(b => b.Events, (b, e) => (b.Conversation.Owner, e.At, Usage: (e.Data as IModelCallUsage)?.Usage))
                .Where(x => x.Usage is not null)
                .GroupBy(x => (x.Owner, Day: UsageDay.Of(x.At)))
                .Select(g => new UsageRow(g.Key.Owner, g.Key.Day, g.Sum(x => x.Usage!.InputTokens), g.Sum(x => x.Usage!.OutputTokens))),
        ];
    }

    internal sealed class TranscriptRow
    {
        public const string Select =
            """
            SELECT conversation_id AS ConversationId, run_id AS RunId, owner AS Owner, outcome AS Outcome,
                   started_at AS StartedAt, ended_at AS EndedAt, last_seq AS LastSeq, transcript AS Transcript
            FROM transcripts WHERE conversation_id = @conversationId ORDER BY started_at, run_id;
            """;

        public const string Upsert =
            """
            INSERT INTO transcripts (conversation_id, run_id, owner, outcome, started_at, ended_at, last_seq, transcript)
            VALUES (@ConversationId, @RunId, @Owner, @Outcome, @StartedAt, @EndedAt, @LastSeq, @Transcript)
            ON CONFLICT (conversation_id, run_id) DO UPDATE SET
                outcome = excluded.outcome, ended_at = excluded.ended_at, last_seq = excluded.last_seq, transcript = excluded.transcript;
            """;

        public string ConversationId { get; init; } = "";
        public string RunId { get; init; } = "";
        public string Owner { get; init; } = "";
        public string Outcome { get; init; } = "";
        public long StartedAt { get; init; }
        public long EndedAt { get; init; }
        public long LastSeq { get; init; }
        public string Transcript { get; init; } = "";

        public static TranscriptRow From(TranscriptRecord r) => new()
        {
            ConversationId = r.ConversationId,
            RunId = r.RunId,
            Owner = r.Owner,
            Outcome = Names.Of(r.Outcome)!,
            StartedAt = r.StartedAt.ToUnixTimeMilliseconds(),
            EndedAt = r.EndedAt.ToUnixTimeMilliseconds(),
            LastSeq = r.LastSeq,
            Transcript = r.Transcript,
        };

        public TranscriptRecord ToRecord() => new(
            ConversationId,
            RunId,
            Owner,
            Names.ParseOutcome(Outcome) ?? throw new InvalidOperationException("A transcript without an outcome."),
            DateTimeOffset.FromUnixTimeMilliseconds(StartedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(EndedAt),
            LastSeq,
            Transcript);
    }

    internal const string SelectEvents =
        """
        SELECT seq AS Seq, run_id AS RunId, type AS Type, at AS At, data AS Data
        FROM events WHERE conversation_id = @conversationId AND seq > @afterSeq
        ORDER BY seq LIMIT @limit;
        """;

    internal const string SelectSnapshot =
        "SELECT conversation_id AS ConversationId, seq AS Seq, state AS State FROM snapshots WHERE conversation_id = @conversationId;";

    internal sealed class ConversationRow
    {
        public const string Select =
            """
            SELECT id AS Id, owner AS Owner, title AS Title, status AS Status, created_at AS CreatedAt,
                   updated_at AS UpdatedAt, last_seq AS LastSeq, last_outcome AS LastOutcome,
                   parent_id AS ParentId, depth AS Depth, forked_from AS ForkedFrom, forked_after_seq AS ForkedAfterSeq
            FROM conversations
            """;

        public string Id { get; init; } = "";
        public string Owner { get; init; } = "";
        public string Title { get; init; } = "";
        public string Status { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }
        public long LastSeq { get; init; }
        public string? LastOutcome { get; init; }
        public string? ParentId { get; init; }
        public long Depth { get; init; }
        public string? ForkedFrom { get; init; }
        public long? ForkedAfterSeq { get; init; }

        public static ConversationRow From(ConversationRecord r) => new()
        {
            Id = r.Id,
            Owner = r.Owner,
            Title = r.Title,
            Status = Names.Of(r.Status),
            CreatedAt = r.CreatedAt.ToUnixTimeMilliseconds(),
            UpdatedAt = r.UpdatedAt.ToUnixTimeMilliseconds(),
            LastSeq = r.LastSeq,
            LastOutcome = Names.Of(r.LastRunOutcome),
            ParentId = r.ParentId,
            Depth = r.Depth,
            ForkedFrom = r.ForkedFrom?.ConversationId,
            ForkedAfterSeq = r.ForkedFrom?.AfterSeq,
        };

        public ConversationRecord ToRecord() => new(
            Id,
            Owner,
            Title,
            Names.ParseStatus(Status),
            DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            LastSeq,
            Names.ParseOutcome(LastOutcome),
            ParentId,
            (int)Depth,
            ForkedFrom is null ? null : new ForkOrigin(ForkedFrom, ForkedAfterSeq ?? 0));
    }
}
