using System.Text.Json.Nodes;

namespace Agents.Api.Protocols;

/// <summary>Reading the clients' bodies leniently: a member that is not a string is as good as absent (and refused as such).</summary>
internal static class JsonFields
{
    public static string? String(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
