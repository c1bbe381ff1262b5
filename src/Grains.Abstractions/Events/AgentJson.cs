using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Agents.Events;

/// <summary>
/// The JSON form of the contract (camelCase, nulls omitted), shared by the store, the gateway and clients in .NET.
/// </summary>
public static class AgentJson
{
    /// <summary>Options for events, commands and conversation info.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the contract's conventions to <paramref name="options"/> (for hosts that own theirs).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return options;
    }

    /// <summary>Serializes an event's data (without the envelope) to JSON text.</summary>
    public static string SerializeData(ConversationEvent data) => JsonSerializer.Serialize(data, data.GetType(), Options);

    /// <summary>Reads an event's data of the contract type <paramref name="type"/>.</summary>
    /// <exception cref="JsonException">The type is unknown or the data does not fit it.</exception>
    public static ConversationEvent DeserializeData(string type, string json)
    {
        if (!EventTypes.ClrTypes.TryGetValue(type, out var clrType))
        {
            throw new JsonException($"Unknown event type '{type}'.");
        }

        return (ConversationEvent?)JsonSerializer.Deserialize(json, clrType, Options)
            ?? throw new JsonException($"Event data of '{type}' is null.");
    }

    /// <summary>Reads an event's data of the contract type <paramref name="type"/> from the value under <paramref name="reader"/>.</summary>
    /// <exception cref="JsonException">The type is unknown or the data does not fit it.</exception>
    public static ConversationEvent DeserializeData(string type, ref Utf8JsonReader reader)
    {
        if (!EventTypes.ClrTypes.TryGetValue(type, out var clrType))
        {
            throw new JsonException($"Unknown event type '{type}'.");
        }

        return (ConversationEvent?)JsonSerializer.Deserialize(ref reader, clrType, Options)
            ?? throw new JsonException($"Event data of '{type}' is null.");
    }

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    /// <summary>The contract's timestamp form: UTC with milliseconds and a Z.</summary>
    public static string FormatTimestamp(DateTimeOffset at) => at.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    /// <summary>The length of <see cref="FormatTimestamp(DateTimeOffset)"/>'s text.</summary>
    internal const int TimestampLength = 24;

    /// <summary><see cref="FormatTimestamp(DateTimeOffset)"/> into <paramref name="destination"/>, without a string per event.</summary>
    internal static ReadOnlySpan<char> FormatTimestamp(DateTimeOffset at, Span<char> destination) =>
        at.UtcDateTime.TryFormat(destination, out var written, TimestampFormat, CultureInfo.InvariantCulture)
            ? destination[..written]
            : throw new ArgumentException($"A timestamp needs {TimestampLength} chars.", nameof(destination));
}

/// <summary>Writes a string that holds JSON as that JSON, and reads any JSON value back as its text.</summary>
public sealed class RawJsonConverter : JsonConverter<string>
{
    /// <inheritdoc />
    public override bool HandleNull => false;

    /// <inheritdoc />
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.GetRawText();
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value, skipInputValidation: false);
}

/// <summary>The contract's envelope: <c>{ seq, conversationId, runId, type, at, data }</c>.</summary>
public sealed class EventEnvelopeJsonConverter : JsonConverter<EventEnvelope>
{
    /// <inheritdoc />
    /// <remarks>
    /// One pass: the data is read straight into its type when <c>type</c> came before it (as this service writes
    /// it), and only otherwise held as text until the type is known. A replay of thousands of events parses each once.
    /// </remarks>
    public override EventEnvelope Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("An event must be a JSON object.");
        }

        long? seq = null;
        DateTimeOffset? at = null;
        string? conversationId = null, runId = null, type = null, pendingData = null;
        ConversationEvent? data = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("seq"u8))
            {
                reader.Read();
                seq = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("conversationId"u8))
            {
                reader.Read();
                conversationId = reader.GetString();
            }
            else if (reader.ValueTextEquals("runId"u8))
            {
                reader.Read();
                runId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                type = reader.GetString();
            }
            else if (reader.ValueTextEquals("at"u8))
            {
                reader.Read();
                at = reader.GetDateTimeOffset();
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (type is not null)
                {
                    data = AgentJson.DeserializeData(type, ref reader);
                }
                else
                {
                    using var document = JsonDocument.ParseValue(ref reader);
                    pendingData = document.RootElement.GetRawText();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (type is null)
        {
            throw new JsonException("Event without a type.");
        }

        return new EventEnvelope(
            seq ?? throw new JsonException("Event without a seq."),
            conversationId ?? throw new JsonException("Event without a conversation id."),
            runId,
            at ?? throw new JsonException("Event without a time."),
            data ?? AgentJson.DeserializeData(type, pendingData ?? "{}"));
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, EventEnvelope value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("seq", value.Seq);
        writer.WriteString("conversationId", value.ConversationId);
        if (value.RunId is null)
        {
            writer.WriteNull("runId");
        }
        else
        {
            writer.WriteString("runId", value.RunId);
        }

        writer.WriteString("type", value.Type);
        writer.WriteString("at", AgentJson.FormatTimestamp(value.At, stackalloc char[AgentJson.TimestampLength]));
        writer.WritePropertyName("data");
        // The JSON the store holds, written as it is: this service's own serializer made it.
        writer.WriteRawValue(value.DataJson, skipInputValidation: true);
        writer.WriteEndObject();
    }
}
