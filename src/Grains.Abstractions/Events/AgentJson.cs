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

    /// <summary>The contract's timestamp form: UTC with milliseconds and a Z.</summary>
    public static string FormatTimestamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
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
    public override EventEnvelope Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        var type = root.GetProperty("type").GetString() ?? throw new JsonException("Event without a type.");
        var runId = root.TryGetProperty("runId", out var run) && run.ValueKind == JsonValueKind.String ? run.GetString() : null;
        var data = root.TryGetProperty("data", out var d) ? d.GetRawText() : "{}";
        return new EventEnvelope(
            root.GetProperty("seq").GetInt64(),
            root.GetProperty("conversationId").GetString() ?? throw new JsonException("Event without a conversation id."),
            runId,
            root.GetProperty("at").GetDateTimeOffset(),
            AgentJson.DeserializeData(type, data));
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
        writer.WriteString("at", AgentJson.FormatTimestamp(value.At));
        writer.WritePropertyName("data");
        JsonSerializer.Serialize(writer, value.Data, value.Data.GetType(), AgentJson.Options);
        writer.WriteEndObject();
    }
}
