using System.Text.Json.Serialization;

namespace Agents.Events;

/// <summary>
/// One immutable entry of a conversation's log, as stored, streamed and sent to clients.
/// </summary>
/// <remarks>
/// The data is serialized once: the JSON made for the store (or read from it) is what Orleans carries and what the
/// gateway writes to every client, and the typed <see cref="Data"/> is read from it only where something needs it.
/// </remarks>
[Immutable, Alias("agents.EventEnvelope")]
[JsonConverter(typeof(EventEnvelopeJsonConverter))]
public sealed record EventEnvelope
{
    // Each cache is filled at most once from the other; a race computes the same value twice, never a different one.
    private ConversationEvent? _data;
    private string? _dataJson;

    /// <summary>An event with its data in hand (appended by the grain, or read by a client).</summary>
    /// <param name="seq">1, 2, 3, … per conversation: gapless, never reused, never reordered.</param>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="runId">The run the event belongs to; null only outside a run.</param>
    /// <param name="at">When it was appended (UTC, millisecond precision).</param>
    /// <param name="data">The event itself.</param>
    public EventEnvelope(long seq, string conversationId, string? runId, DateTimeOffset at, ConversationEvent data)
        : this(seq, conversationId, runId, at, data.Type) => _data = data;

    /// <summary>An event as stored: its data stays JSON until something reads <see cref="Data"/>.</summary>
    /// <param name="seq">1, 2, 3, … per conversation.</param>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="runId">The run the event belongs to; null only outside a run.</param>
    /// <param name="at">When it was appended.</param>
    /// <param name="type">The contract's type name of the data.</param>
    /// <param name="dataJson">The data in the contract's JSON form, as <see cref="AgentJson.SerializeData"/> writes it.</param>
    public EventEnvelope(long seq, string conversationId, string? runId, DateTimeOffset at, string type, string dataJson)
        : this(seq, conversationId, runId, at, type) => _dataJson = dataJson;

    private EventEnvelope(long seq, string conversationId, string? runId, DateTimeOffset at, string type)
    {
        Seq = seq;
        ConversationId = conversationId;
        RunId = runId;
        At = at;
        Type = type;
    }

    /// <summary>1, 2, 3, … per conversation: gapless, never reused, never reordered.</summary>
    public long Seq { get; init; }

    /// <summary>The conversation.</summary>
    public string ConversationId { get; init; }

    /// <summary>The run the event belongs to; null only outside a run.</summary>
    public string? RunId { get; init; }

    /// <summary>When it was appended (UTC, millisecond precision).</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>The contract's type name of <see cref="Data"/>.</summary>
    public string Type { get; }

    /// <summary>The event itself.</summary>
    /// <exception cref="System.Text.Json.JsonException">Stored data that does not fit its type.</exception>
    public ConversationEvent Data => _data ??= AgentJson.DeserializeData(Type, _dataJson!);

    /// <summary>The data in the contract's JSON form: what the store holds and clients receive.</summary>
    public string DataJson => _dataJson ??= AgentJson.SerializeData(_data!);

    /// <summary>Equal when every field and the data's JSON are.</summary>
    public bool Equals(EventEnvelope? other) =>
        ReferenceEquals(this, other)
        || (other is not null && Seq == other.Seq && At == other.At && ConversationId == other.ConversationId
            && RunId == other.RunId && Type == other.Type && DataJson == other.DataJson);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Seq, ConversationId, RunId, At, Type);
}

/// <summary>What Orleans carries of an <see cref="EventEnvelope"/>: the fields and the data's JSON, never a second form.</summary>
[GenerateSerializer, Alias("agents.EventEnvelope.Wire")]
internal struct EventEnvelopeSurrogate
{
    /// <summary><see cref="EventEnvelope.Seq"/>.</summary>
    [Id(0)] public long Seq;

    /// <summary><see cref="EventEnvelope.ConversationId"/>.</summary>
    [Id(1)] public string ConversationId;

    /// <summary><see cref="EventEnvelope.RunId"/>.</summary>
    [Id(2)] public string? RunId;

    /// <summary><see cref="EventEnvelope.At"/>.</summary>
    [Id(3)] public DateTimeOffset At;

    /// <summary><see cref="EventEnvelope.Type"/>.</summary>
    [Id(4)] public string Type;

    /// <summary><see cref="EventEnvelope.DataJson"/>.</summary>
    [Id(5)] public string DataJson;
}

/// <summary>Converts an <see cref="EventEnvelope"/> to and from what Orleans carries of it.</summary>
[RegisterConverter]
internal sealed class EventEnvelopeSurrogateConverter : IConverter<EventEnvelope, EventEnvelopeSurrogate>
{
    /// <inheritdoc />
    public EventEnvelope ConvertFromSurrogate(in EventEnvelopeSurrogate surrogate) =>
        new(surrogate.Seq, surrogate.ConversationId, surrogate.RunId, surrogate.At, surrogate.Type, surrogate.DataJson);

    /// <inheritdoc />
    public EventEnvelopeSurrogate ConvertToSurrogate(in EventEnvelope value) => new()
    {
        Seq = value.Seq,
        ConversationId = value.ConversationId,
        RunId = value.RunId,
        At = value.At,
        Type = value.Type,
        DataJson = value.DataJson,
    };
}
