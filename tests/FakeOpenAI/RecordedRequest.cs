using System.Text.Json.Nodes;

namespace Agents.FakeOpenAI;

/// <summary>A request the fake server received, as it came.</summary>
/// <param name="Sequence">1, 2, 3, … over the server's life.</param>
/// <param name="Elapsed">When it arrived, from the server's start (a monotonic clock, for measuring gaps).</param>
/// <param name="Path">The request path.</param>
/// <param name="Authorization">The <c>Authorization</c> header, to check which key the client sent.</param>
/// <param name="Body">The body as sent.</param>
public sealed record RecordedRequest(long Sequence, TimeSpan Elapsed, string Path, string? Authorization, string Body)
{
    private JsonNode? _json;

    public JsonNode? Json => _json ??= TryParse(Body);

    /// <summary>The request's <c>messages</c>.</summary>
    public IReadOnlyList<JsonObject> Messages =>
        Json?["messages"] is JsonArray messages ? [.. messages.OfType<JsonObject>()] : [];

    public bool Stream => Json?["stream"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;

    public bool IncludeUsage =>
        Json?["stream_options"]?["include_usage"]?.GetValueKind() == System.Text.Json.JsonValueKind.True;

    /// <summary>The names of the tools offered with the request.</summary>
    public IReadOnlyList<string> ToolNames =>
        Json?["tools"] is JsonArray tools
            ? [.. tools.Select(t => t?["function"]?["name"]?.GetValue<string>()).OfType<string>()]
            : [];

    /// <summary>The text of a message's <c>content</c>, whether a string or a list of text parts.</summary>
    public static string TextOf(JsonObject message) => message["content"] switch
    {
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.GetValue<string>())),
        _ => "",
    };

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
