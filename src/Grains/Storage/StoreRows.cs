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
            new(Seq, conversationId, RunId, DateTimeOffset.FromUnixTimeMilliseconds(At), AgentJson.DeserializeData(Type, Data));
    }

    internal sealed class TranscriptRow
    {
        public string ConversationId { get; init; } = "";
        public string Owner { get; init; } = "";
        public string Title { get; init; } = "";
        public string? Outcome { get; init; }
        public long LastSeq { get; init; }
        public long UpdatedAt { get; init; }
        public string Transcript { get; init; } = "";

        public const string Select =
            """
            SELECT conversation_id AS ConversationId, owner AS Owner, title AS Title, outcome AS Outcome,
                   last_seq AS LastSeq, updated_at AS UpdatedAt, transcript AS Transcript
            FROM transcripts
            """;

        public static TranscriptRow From(TranscriptRecord r) => new()
        {
            ConversationId = r.ConversationId,
            Owner = r.Owner,
            Title = r.Title,
            Outcome = Names.Of(r.Outcome),
            LastSeq = r.LastSeq,
            UpdatedAt = r.UpdatedAt.ToUnixTimeMilliseconds(),
            Transcript = r.Transcript,
        };

        public TranscriptRecord ToRecord() =>
            new(ConversationId, Owner, Title, Names.ParseOutcome(Outcome), LastSeq, DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt), Transcript);
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
                   updated_at AS UpdatedAt, last_seq AS LastSeq, last_outcome AS LastOutcome
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
        };

        public ConversationRecord ToRecord() => new(
            Id,
            Owner,
            Title,
            Names.ParseStatus(Status),
            DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            LastSeq,
            Names.ParseOutcome(LastOutcome));
    }
}
