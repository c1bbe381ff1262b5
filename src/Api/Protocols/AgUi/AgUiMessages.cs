using System.Text.Json.Nodes;
using Agents.Events;

namespace Agents.Api.Protocols.AgUi;

/// <summary>
/// A thread's messages in AG-UI's form as of some seq, with the same ids its events use: a user message under the
/// client's id when it gave one, an assistant text under its message id, each tool call as an assistant message with
/// the call's id (as AG-UI's client makes one for a <c>TOOL_CALL_START</c> without a parent), its result as a tool
/// message.
/// </summary>
public static class AgUiMessages
{
    public static string ResultMessageId(string callId) => $"{callId}-result";

    public static string ResultContent(ToolResultReturned result) =>
        result.Error is { } error ? $"{error.Code}: {error.Message}" : result.Result ?? "null";

    /// <summary>The messages of <paramref name="log"/>, and the ids of those still streaming at its end.</summary>
    public static (JsonArray Messages, IReadOnlyList<string> Streaming) FromLog(IReadOnlyList<EventEnvelope> log)
    {
        var messages = new JsonArray();
        var texts = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        var streaming = new List<string>();
        foreach (var e in log)
        {
            switch (e.Data)
            {
                case UserMessageSent user:
                    messages.Add(new JsonObject { ["id"] = user.ClientMessageId ?? user.MessageId, ["role"] = "user", ["content"] = user.Text });
                    break;
                case MessageDeltaStreamed delta:
                    if (!texts.TryGetValue(delta.MessageId, out var text))
                    {
                        texts[delta.MessageId] = text = new JsonObject { ["id"] = delta.MessageId, ["role"] = "assistant", ["content"] = "" };
                        messages.Add(text);
                        streaming.Add(delta.MessageId);
                    }

                    text["content"] = (string)text["content"]! + delta.Text;
                    break;
                case AssistantMessageCompleted done:
                    if (!texts.TryGetValue(done.MessageId, out var whole))
                    {
                        texts[done.MessageId] = whole = new JsonObject { ["id"] = done.MessageId, ["role"] = "assistant" };
                        messages.Add(whole);
                    }

                    whole["content"] = done.Text;
                    streaming.Remove(done.MessageId);
                    break;
                case MessageInterrupted interrupted:
                    streaming.Remove(interrupted.MessageId);
                    break;
                case RunCompleted or RunFailed or RunCancelled:
                    streaming.Clear();
                    break;
                case ToolCalled call:
                    messages.Add(new JsonObject
                    {
                        ["id"] = call.CallId,
                        ["role"] = "assistant",
                        ["toolCalls"] = new JsonArray(new JsonObject
                        {
                            ["id"] = call.CallId,
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = ToolNames.Display(call.Name), ["arguments"] = call.Arguments },
                        }),
                    });
                    break;
                case ToolResultReturned result:
                    var tool = new JsonObject
                    {
                        ["id"] = ResultMessageId(result.CallId),
                        ["role"] = "tool",
                        ["toolCallId"] = result.CallId,
                        ["content"] = ResultContent(result),
                    };
                    if (result.Error is { } error)
                    {
                        tool["error"] = $"{error.Code}: {error.Message}";
                    }

                    messages.Add(tool);
                    break;
            }
        }

        return (messages, streaming);
    }
}
