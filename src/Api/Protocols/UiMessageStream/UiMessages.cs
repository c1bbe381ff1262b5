using System.Text.Json.Nodes;
using Agents.Events;

namespace Agents.Api.Protocols.UiMessageStream;

/// <summary>
/// A conversation's log as AI SDK <c>UIMessage</c>s, for a page to restore on load: each user message, and for each
/// run one assistant message built from the very frames its stream carries (so the message a page restores and the
/// one a resumed stream builds are the same, ids included).
/// </summary>
public static class UiMessages
{
    public static JsonArray FromLog(IReadOnlyList<EventEnvelope> log)
    {
        var messages = new JsonArray();
        var runs = new Dictionary<string, List<EventEnvelope>>(StringComparer.Ordinal);
        var order = new List<(string? RunId, EventEnvelope? User)>();
        foreach (var e in log)
        {
            if (e.Data is UserMessageSent user && (e.RunId is null || runs.ContainsKey(e.RunId)))
            {
                // Outside a run, or sent into one already going: a user message of its own.
                order.Add((null, e));
                continue;
            }

            if (e.RunId is null)
            {
                continue;
            }

            if (!runs.TryGetValue(e.RunId, out var events))
            {
                runs[e.RunId] = events = [];
                if (e.Data is UserMessageSent)
                {
                    order.Add((null, e));
                }

                order.Add((e.RunId, null));
            }

            events.Add(e);
        }

        foreach (var (runId, user) in order)
        {
            messages.Add(user is { Data: UserMessageSent sent }
                ? UserMessage(sent)
                : AssistantMessage(runId!, UiMessageStreamProjection.Project(runs[runId!])));
        }

        return messages;
    }

    /// <summary>The client's own id when it gave one, so the page's message and ours are one.</summary>
    public static JsonObject UserMessage(UserMessageSent sent) => new()
    {
        ["id"] = sent.ClientMessageId ?? sent.MessageId,
        ["role"] = "user",
        ["parts"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = sent.Text }),
    };

    /// <summary>Folds the frames into a message as the AI SDK's <c>processUIMessageStream</c> does.</summary>
    public static JsonObject AssistantMessage(string runId, IReadOnlyList<ProtocolFrame> frames)
    {
        var parts = new JsonArray();
        var message = new JsonObject { ["id"] = runId, ["role"] = "assistant", ["parts"] = parts };
        var texts = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var tools = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var part in frames.Select(f => f.Data).OfType<JsonObject>())
        {
            var type = (string)part["type"]!;
            switch (type)
            {
                case "start-step":
                    parts.Add(new JsonObject { ["type"] = "step-start" });
                    break;
                case "text-start":
                    var text = new JsonObject { ["type"] = "text", ["text"] = "", ["state"] = "streaming" };
                    texts[(string)part["id"]!] = text;
                    parts.Add(text);
                    break;
                case "text-delta":
                    var open = texts[(string)part["id"]!];
                    open["text"] = (string)open["text"]! + (string)part["delta"]!;
                    break;
                case "text-end":
                    texts[(string)part["id"]!]["state"] = "done";
                    break;
                case "tool-input-start":
                    var tool = new JsonObject
                    {
                        ["type"] = $"tool-{part["toolName"]}",
                        ["toolCallId"] = (string)part["toolCallId"]!,
                        ["state"] = "input-streaming",
                    };
                    tools[(string)part["toolCallId"]!] = tool;
                    parts.Add(tool);
                    break;
                case "tool-input-available":
                    Tool(part)["state"] = "input-available";
                    Tool(part)["input"] = part["input"]?.DeepClone();
                    break;
                case "tool-approval-request":
                    Tool(part)["state"] = "approval-requested";
                    Tool(part)["approval"] = new JsonObject { ["id"] = (string)part["approvalId"]! };
                    break;
                case "tool-approval-response":
                    var approved = tools.Values.First(t => (string?)t["approval"]?["id"] == (string)part["approvalId"]!);
                    approved["state"] = "approval-responded";
                    approved["approval"] = new JsonObject { ["id"] = (string)part["approvalId"]!, ["approved"] = (bool)part["approved"]! };
                    break;
                case "tool-output-available":
                    Tool(part)["state"] = "output-available";
                    Tool(part)["output"] = part["output"]?.DeepClone();
                    break;
                case "tool-output-error":
                    Tool(part)["state"] = "output-error";
                    Tool(part)["errorText"] = (string)part["errorText"]!;
                    break;
                case "tool-output-denied":
                    Tool(part)["state"] = "output-denied";
                    break;
                case "finish":
                    if (part["messageMetadata"] is JsonObject metadata)
                    {
                        message["metadata"] = metadata.DeepClone();
                    }

                    break;
                case var data when data.StartsWith("data-", StringComparison.Ordinal):
                    var existing = parts.OfType<JsonObject>().FirstOrDefault(p => (string?)p["type"] == data && (string?)p["id"] == (string?)part["id"]);
                    if (existing is null)
                    {
                        parts.Add(part.DeepClone());
                    }
                    else
                    {
                        existing["data"] = part["data"]?.DeepClone();
                    }

                    break;
            }
        }

        return message;

        JsonObject Tool(JsonObject part) => tools[(string)part["toolCallId"]!];
    }
}
