using System.Text.Json.Nodes;
using Agents.Events;

namespace Agents.Api.Protocols;

/// <summary>
/// A sub-agent as both front-end protocols show it: one card per child, keyed by the child's id, that a page replaces
/// as the child goes from <c>running</c> to its outcome. The child's own events stay in its own conversation (a page
/// watches it by <c>childId</c>); the card says enough to draw it and link to it.
/// </summary>
internal sealed class SubagentCards
{
    public const string Name = "subagent";

    // Titles are on subagent.started only; a stream that began later shows the outcome without one.
    private readonly Dictionary<string, string> _titles = new(StringComparer.Ordinal);

    public static string Id(string childId) => $"subagent-{childId}";

    /// <summary>The card of a <c>subagent.*</c> event, or null for any other event.</summary>
    public JsonObject? Card(ConversationEvent data)
    {
        switch (data)
        {
            case SubagentStarted started:
                _titles[started.ChildId] = started.Title;
                return Make(started.CallId, started.ChildId, "running");

            case SubagentEnded ended:
                var card = Make(ended.CallId, ended.ChildId, ended.Outcome.ToString().ToLowerInvariant());
                if (ended.Text is not null)
                {
                    card["text"] = ended.Text;
                }

                if (ended.Error is { } error)
                {
                    card["error"] = new JsonObject { ["code"] = error.Code, ["message"] = error.Message };
                }

                return card;

            default:
                return null;
        }
    }

    private JsonObject Make(string callId, string childId, string status)
    {
        var card = new JsonObject { ["childId"] = childId, ["callId"] = callId, ["status"] = status };
        if (_titles.TryGetValue(childId, out var title))
        {
            card["title"] = title;
        }

        return card;
    }
}
