using System.Text.Json.Serialization;

namespace Agents.Events;

/// <summary>
/// One immutable entry of a conversation's log, as stored, streamed and sent to clients.
/// </summary>
/// <param name="Seq">1, 2, 3, … per conversation: gapless, never reused, never reordered.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="RunId">The run the event belongs to; null only outside a run.</param>
/// <param name="At">When it was appended (UTC, millisecond precision).</param>
/// <param name="Data">The event itself.</param>
[GenerateSerializer, Immutable, Alias("agents.EventEnvelope")]
[JsonConverter(typeof(EventEnvelopeJsonConverter))]
public sealed record EventEnvelope(
    [property: Id(0)] long Seq,
    [property: Id(1)] string ConversationId,
    [property: Id(2)] string? RunId,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] ConversationEvent Data)
{
    /// <summary>The contract's type name of <see cref="Data"/>.</summary>
    public string Type => Data.Type;
}
