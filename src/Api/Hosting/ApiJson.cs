using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Agents.Events;

namespace Agents.Api.Hosting;

/// <summary>
/// The contract's JSON for the hub and the HTTP API: <see cref="AgentJson"/>'s conventions, plus two things the
/// contract promises that a blanket "omit nulls" would break: <c>lastRunOutcome</c> is always present (null before
/// any run ended), and timestamps are UTC with a <c>Z</c>, as in the event envelope.
/// </summary>
public static class ApiJson
{
    /// <summary>Options for clients in .NET (tests, tools) that read what this API writes.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        AgentJson.Configure(options);
        options.Converters.Add(new UtcTimestampConverter());
        options.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(AlwaysWriteLastRunOutcome);
        return options;
    }

    private static void AlwaysWriteLastRunOutcome(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Type != typeof(ConversationInfo))
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.Name == "lastRunOutcome")
            {
                property.ShouldSerialize = static (_, _) => true;
            }
        }
    }

    private sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.GetDateTimeOffset();

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(AgentJson.FormatTimestamp(value));
    }
}
