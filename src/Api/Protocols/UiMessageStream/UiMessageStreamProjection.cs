using System.Text.Json.Nodes;
using Agents.Events;

namespace Agents.Api.Protocols.UiMessageStream;

/// <summary>
/// The AI SDK's UI message stream (protocol v1) of one stream of a conversation's log: a fold over the events it is
/// given, each turned into its parts by this state alone, so a replay of the same events and a live stream give the
/// same frames. One assistant UI message per run (its id is the run id); one text part per assistant message (its id
/// is the message id); tool parts keyed by the call id; approvals by the request id.
/// </summary>
public sealed class UiMessageStreamProjection
{
    public const string ProgressPart = "data-progress";
    public const string InterruptedPart = "data-interrupted";
    public const string SubagentPart = "data-" + SubagentCards.Name;

    private readonly HashSet<string> _openTexts = new(StringComparer.Ordinal);
    private readonly SubagentCards _subagents = new();
    private bool _started;
    private bool _stepOpen;
    private bool _stepHasResults;

    /// <summary>Whether the stream has ended (its <c>[DONE]</c> was made); later events give nothing.</summary>
    public bool Ended { get; private set; }

    /// <summary>All frames of <paramref name="events"/>, in order, as one stream reads them (tests, the messages route).</summary>
    public static IReadOnlyList<ProtocolFrame> Project(IReadOnlyList<EventEnvelope> events)
    {
        var projection = new UiMessageStreamProjection();
        var frames = new List<ProtocolFrame>();
        for (var i = 0; i < events.Count && !projection.Ended; i++)
        {
            var answered = events[i].Data is InputRequested request && RunLog.IsAnswered(request, events.Skip(i + 1));
            frames.AddRange(projection.Apply(events[i], answered));
        }

        return frames;
    }

    /// <summary>
    /// The frames of one event. <paramref name="answered"/> says, for an <c>input.requested</c>, whether its answer
    /// is already in the log: an open request ends the stream (the client answers, then posts again).
    /// </summary>
    public IReadOnlyList<ProtocolFrame> Apply(EventEnvelope e, bool answered = false)
    {
        if (Ended)
        {
            return [];
        }

        var parts = new List<JsonObject>();
        switch (e.Data)
        {
            case RunStarted or RunResumed:
                Begin(e, parts);
                if (_stepOpen)
                {
                    // A resumed run starts its step again; what was open was closed by message.interrupted.
                    parts.Add(Part("finish-step"));
                    _stepOpen = false;
                }

                OpenStep(parts);
                break;

            case MessageDeltaStreamed delta:
                Content(e, parts);
                OpenText(delta.MessageId, parts);
                parts.Add(Part("text-delta", ("id", delta.MessageId), ("delta", delta.Text)));
                break;

            case AssistantMessageCompleted message:
                Content(e, parts);
                if (!_openTexts.Contains(message.MessageId))
                {
                    // A message that came whole (no deltas, or its deltas were before this stream began).
                    OpenText(message.MessageId, parts);
                    parts.Add(Part("text-delta", ("id", message.MessageId), ("delta", message.Text)));
                }

                parts.Add(Part("text-end", ("id", message.MessageId)));
                _openTexts.Remove(message.MessageId);
                break;

            case MessageInterrupted interrupted:
                Begin(e, parts);
                if (_openTexts.Remove(interrupted.MessageId))
                {
                    parts.Add(Part("text-end", ("id", interrupted.MessageId)));
                }

                parts.Add(Data(InterruptedPart, $"interrupted-{interrupted.MessageId}",
                    new JsonObject { ["messageId"] = interrupted.MessageId, ["reason"] = interrupted.Reason }));
                break;

            case ProgressReported progress:
                Begin(e, parts);
                // One part per run, replaced by each new line: the page shows the latest status.
                parts.Add(Data(ProgressPart, $"progress-{e.RunId}", new JsonObject { ["text"] = progress.Text }));
                break;

            case SubagentStarted or SubagentEnded:
                Begin(e, parts);
                // One part per child, replaced as it ends (the same id), beside the start_subagents tool part.
                var card = _subagents.Card(e.Data)!;
                parts.Add(Data(SubagentPart, SubagentCards.Id((string)card["childId"]!), card));
                break;

            case ToolCalled call:
                Content(e, parts);
                var name = ToolNames.Display(call.Name);
                parts.Add(Part("tool-input-start", ("toolCallId", call.CallId), ("toolName", name)));
                var available = Part("tool-input-available", ("toolCallId", call.CallId), ("toolName", name));
                available["input"] = JsonNode.Parse(call.Arguments);
                parts.Add(available);
                break;

            case InputRequested request:
                Begin(e, parts);
                if (request.Kind == InputKinds.Approval)
                {
                    parts.Add(Part("tool-approval-request", ("approvalId", request.RequestId), ("toolCallId", request.CallId)));
                }

                // A question is the ask_user call itself, left without output for the client's addToolOutput.
                if (!answered)
                {
                    End(parts, Finish("tool-calls", usage: null));
                }

                break;

            case InputReceived received:
                Begin(e, parts);
                if (received.Approved is { } approved)
                {
                    var response = Part("tool-approval-response", ("approvalId", received.RequestId));
                    response["approved"] = approved;
                    parts.Add(response);
                }

                break;

            case ToolResultReturned result:
                Begin(e, parts);
                parts.Add(result.Error switch
                {
                    null => WithOutput(Part("tool-output-available", ("toolCallId", result.CallId)), result.Result),
                    { Code: "denied" } => Part("tool-output-denied", ("toolCallId", result.CallId)),
                    { } error => Part("tool-output-error", ("toolCallId", result.CallId), ("errorText", $"{error.Code}: {error.Message}")),
                });
                _stepHasResults = true;
                break;

            case RunCompleted completed:
                Begin(e, parts);
                End(parts, Finish("stop", completed.Usage));
                break;

            case RunFailed failed:
                Begin(e, parts);
                parts.Add(Part("error", ("errorText", $"{failed.Error.Code}: {failed.Error.Message}")));
                Ended = true;
                break;

            case RunCancelled:
                Begin(e, parts);
                parts.Add(Part("abort", ("reason", "cancelled")));
                Ended = true;
                break;
        }

        var frames = parts.Select(p => new ProtocolFrame(e.Seq, p)).ToList();
        if (Ended)
        {
            frames.Add(ProtocolFrame.Done(e.Seq));
        }

        return frames;
    }

    /// <summary>The message's id is the run's: every stream of a run, live or replayed, builds the same message.</summary>
    private void Begin(EventEnvelope e, List<JsonObject> parts)
    {
        if (_started || e.RunId is null)
        {
            return;
        }

        _started = true;
        parts.Add(Part("start", ("messageId", e.RunId)));
    }

    /// <summary>Text or a tool call: the first after tool results is the model's next call, a new step.</summary>
    private void Content(EventEnvelope e, List<JsonObject> parts)
    {
        Begin(e, parts);
        if (_stepOpen && _stepHasResults)
        {
            parts.Add(Part("finish-step"));
            _stepOpen = false;
        }

        OpenStep(parts);
    }

    private void OpenStep(List<JsonObject> parts)
    {
        if (!_stepOpen)
        {
            parts.Add(Part("start-step"));
            _stepOpen = true;
            _stepHasResults = false;
        }
    }

    private void OpenText(string messageId, List<JsonObject> parts)
    {
        if (_openTexts.Add(messageId))
        {
            parts.Add(Part("text-start", ("id", messageId)));
        }
    }

    private void End(List<JsonObject> parts, JsonObject finish)
    {
        foreach (var open in _openTexts)
        {
            parts.Add(Part("text-end", ("id", open)));
        }

        _openTexts.Clear();
        if (_stepOpen)
        {
            parts.Add(Part("finish-step"));
            _stepOpen = false;
        }

        parts.Add(finish);
        Ended = true;
    }

    private static JsonObject Finish(string reason, TokenUsage? usage)
    {
        var finish = Part("finish", ("finishReason", reason));
        if (usage is not null)
        {
            finish["messageMetadata"] = new JsonObject
            {
                ["usage"] = new JsonObject { ["inputTokens"] = usage.InputTokens, ["outputTokens"] = usage.OutputTokens },
            };
        }

        return finish;
    }

    private static JsonObject WithOutput(JsonObject part, string? result)
    {
        part["output"] = result is null ? null : JsonNode.Parse(result);
        return part;
    }

    private static JsonObject Data(string type, string id, JsonObject data) =>
        new() { ["type"] = type, ["id"] = id, ["data"] = data };

    private static JsonObject Part(string type, params (string Name, string Value)[] fields)
    {
        var part = new JsonObject { ["type"] = type };
        foreach (var (fieldName, value) in fields)
        {
            part[fieldName] = value;
        }

        return part;
    }
}
