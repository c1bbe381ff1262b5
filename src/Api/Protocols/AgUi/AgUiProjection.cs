using System.Text.Json.Nodes;
using Agents.Events;

namespace Agents.Api.Protocols.AgUi;

/// <summary>
/// AG-UI events of one stream of a conversation's log (the thread): a fold over the events it is given, each turned
/// into AG-UI events by this state alone, so a replay and a live stream give the same frames. Message ids are ours,
/// a tool call's id is its call id, an interrupt's id is the request id, the run id is our run's.
/// </summary>
public sealed class AgUiProjection(string threadId)
{
    public const string InterruptedEvent = "interrupted";
    public const string ProgressEvent = "progress";
    public const string ResumedEvent = "resumed";

    private readonly HashSet<string> _openTexts = new(StringComparer.Ordinal);
    private readonly SubagentCards _subagents = new();
    private bool _started;
    private string? _lastText;
    private string? _lastTextId;

    public bool Ended { get; private set; }

    /// <summary>All frames of <paramref name="events"/>, as one stream reads them.</summary>
    public static IReadOnlyList<ProtocolFrame> Project(string threadId, IReadOnlyList<EventEnvelope> events)
    {
        var projection = new AgUiProjection(threadId);
        var frames = new List<ProtocolFrame>();
        for (var i = 0; i < events.Count && !projection.Ended; i++)
        {
            var answered = events[i].Data is InputRequested request && RunLog.IsAnswered(request, events.Skip(i + 1));
            frames.AddRange(projection.Apply(events[i], answered));
        }

        return frames;
    }

    /// <summary>
    /// Opens a reconnected stream: <c>RUN_STARTED</c> and the thread's messages as of <paramref name="asOf"/>; a
    /// message still streaming then is opened again so that its next deltas append to the snapshot's text.
    /// </summary>
    public IReadOnlyList<ProtocolFrame> Connect(string runId, long asOf, JsonArray snapshot, IEnumerable<string> streaming)
    {
        var events = new List<JsonObject> { RunStartedEvent(runId), Event("MESSAGES_SNAPSHOT", ("messages", snapshot)) };
        _started = true;
        foreach (var messageId in streaming)
        {
            _openTexts.Add(messageId);
            events.Add(Event("TEXT_MESSAGE_START", ("messageId", messageId), ("role", "assistant")));
        }

        return [.. events.Select(e => new ProtocolFrame(asOf, e))];
    }

    /// <summary>Ends a reconnected stream of a thread with no run going: finished, or waiting on its open requests.</summary>
    public IReadOnlyList<ProtocolFrame> Idle(string runId, long asOf, IReadOnlyList<InputRequested> open)
    {
        Ended = true;
        return [new ProtocolFrame(asOf, open.Count > 0 ? Interrupt(runId, open) : Finished(runId, new JsonObject { ["type"] = "success" }))];
    }

    /// <summary>The frames of one event; an open <c>input.requested</c> (not <paramref name="answered"/>) ends the stream.</summary>
    public IReadOnlyList<ProtocolFrame> Apply(EventEnvelope e, bool answered = false)
    {
        if (Ended || e.RunId is not { } runId)
        {
            return [];
        }

        var events = new List<JsonObject>();
        if (!_started)
        {
            _started = true;
            events.Add(RunStartedEvent(runId));
        }
        else if (e.Data is RunResumed resumed)
        {
            events.Add(Custom(ResumedEvent, new JsonObject { ["reason"] = resumed.Reason }));
        }

        switch (e.Data)
        {
            case MessageDeltaStreamed delta:
                Open(delta.MessageId, events);
                events.Add(Event("TEXT_MESSAGE_CONTENT", ("messageId", delta.MessageId), ("delta", delta.Text)));
                break;

            case AssistantMessageCompleted message:
                if (!_openTexts.Contains(message.MessageId))
                {
                    Open(message.MessageId, events);
                    events.Add(Event("TEXT_MESSAGE_CONTENT", ("messageId", message.MessageId), ("delta", message.Text)));
                }

                events.Add(Event("TEXT_MESSAGE_END", ("messageId", message.MessageId)));
                _openTexts.Remove(message.MessageId);
                (_lastTextId, _lastText) = (message.MessageId, message.Text);
                break;

            case MessageInterrupted interrupted:
                if (_openTexts.Remove(interrupted.MessageId))
                {
                    events.Add(Event("TEXT_MESSAGE_END", ("messageId", interrupted.MessageId)));
                }

                events.Add(Custom(InterruptedEvent, new JsonObject { ["messageId"] = interrupted.MessageId, ["reason"] = interrupted.Reason }));
                break;

            case ProgressReported progress:
                events.Add(Custom(ProgressEvent, new JsonObject { ["text"] = progress.Text }));
                break;

            case SubagentStarted or SubagentEnded:
                events.Add(Custom(SubagentCards.Name, _subagents.Card(e.Data)!));
                break;

            case ToolCalled call:
                events.Add(Event("TOOL_CALL_START", ("toolCallId", call.CallId), ("toolCallName", ToolNames.Display(call.Name))));
                events.Add(Event("TOOL_CALL_ARGS", ("toolCallId", call.CallId), ("delta", call.Arguments)));
                events.Add(Event("TOOL_CALL_END", ("toolCallId", call.CallId)));
                break;

            case ToolResultReturned result:
                var resultEvent = Event("TOOL_CALL_RESULT",
                    ("messageId", AgUiMessages.ResultMessageId(result.CallId)), ("toolCallId", result.CallId),
                    ("content", AgUiMessages.ResultContent(result)), ("role", "tool"));
                events.Add(resultEvent);
                break;

            case InputRequested request when !answered:
                CloseTexts(events);
                events.Add(Interrupt(runId, [request]));
                Ended = true;
                break;

            case RunCompleted completed:
                CloseTexts(events);
                var finished = Finished(runId, new JsonObject { ["type"] = "success" });
                finished["result"] = _lastTextId is null ? null : new JsonObject { ["messageId"] = _lastTextId, ["text"] = _lastText };
                AddUsage(finished, completed.Usage);
                events.Add(finished);
                Ended = true;
                break;

            case RunFailed failed:
                CloseTexts(events);
                var error = Event("RUN_ERROR", ("message", failed.Error.Message), ("code", failed.Error.Code));
                AddUsage(error, failed.Usage);
                events.Add(error);
                Ended = true;
                break;

            case RunCancelled cancelled:
                CloseTexts(events);
                var done = Finished(runId, new JsonObject { ["type"] = "cancelled" });
                AddUsage(done, cancelled.Usage);
                events.Add(done);
                Ended = true;
                break;
        }

        return [.. events.Select(x => new ProtocolFrame(e.Seq, x))];
    }

    private JsonObject RunStartedEvent(string runId) => Event("RUN_STARTED", ("threadId", threadId), ("runId", runId));

    private JsonObject Finished(string runId, JsonObject outcome)
    {
        var finished = Event("RUN_FINISHED", ("threadId", threadId), ("runId", runId));
        finished["outcome"] = outcome;
        return finished;
    }

    private JsonObject Interrupt(string runId, IReadOnlyList<InputRequested> requests) =>
        Finished(runId, new JsonObject
        {
            ["type"] = "interrupt",
            ["interrupts"] = new JsonArray([.. requests.Select(r => (JsonNode)new JsonObject
            {
                ["id"] = r.RequestId,
                ["reason"] = r.Kind == InputKinds.Approval ? "confirmation" : "input_required",
                ["message"] = r.Prompt,
                ["toolCallId"] = r.CallId,
                ["metadata"] = new JsonObject { ["kind"] = r.Kind, ["toolName"] = ToolNames.Display(r.Name), ["arguments"] = JsonNode.Parse(r.Arguments) },
            })]),
        });

    private void Open(string messageId, List<JsonObject> events)
    {
        if (_openTexts.Add(messageId))
        {
            events.Add(Event("TEXT_MESSAGE_START", ("messageId", messageId), ("role", "assistant")));
        }
    }

    /// <summary>AG-UI refuses a run that finishes with a message still open.</summary>
    private void CloseTexts(List<JsonObject> events)
    {
        foreach (var open in _openTexts)
        {
            events.Add(Event("TEXT_MESSAGE_END", ("messageId", open)));
        }

        _openTexts.Clear();
    }

    private static void AddUsage(JsonObject e, TokenUsage? usage)
    {
        if (usage is not null)
        {
            e["usage"] = new JsonArray(new JsonObject
            {
                ["inputTokens"] = usage.InputTokens,
                ["outputTokens"] = usage.OutputTokens,
                ["totalTokens"] = usage.InputTokens + usage.OutputTokens,
            });
        }
    }

    private static JsonObject Custom(string name, JsonObject value) => Event("CUSTOM", ("name", name), ("value", value));

    private static JsonObject Event(string type, params (string Name, JsonNode? Value)[] fields)
    {
        var e = new JsonObject { ["type"] = type };
        foreach (var (name, value) in fields)
        {
            e[name] = value;
        }

        return e;
    }
}
