using System.Collections.Frozen;

namespace Agents.Events;

/// <summary>The contract's event type names and the record that carries each.</summary>
public static class EventTypes
{
    /// <summary><c>message.user</c></summary>
    public const string UserMessage = "message.user";
    /// <summary><c>run.started</c></summary>
    public const string RunStarted = "run.started";
    /// <summary><c>message.delta</c></summary>
    public const string MessageDelta = "message.delta";
    /// <summary><c>message.assistant</c></summary>
    public const string AssistantMessage = "message.assistant";
    /// <summary><c>message.interrupted</c></summary>
    public const string MessageInterrupted = "message.interrupted";
    /// <summary><c>progress</c></summary>
    public const string Progress = "progress";
    /// <summary><c>tool.call</c></summary>
    public const string ToolCall = "tool.call";
    /// <summary><c>tool.result</c></summary>
    public const string ToolResult = "tool.result";
    /// <summary><c>input.requested</c></summary>
    public const string InputRequested = "input.requested";
    /// <summary><c>input.received</c></summary>
    public const string InputReceived = "input.received";
    /// <summary><c>run.resumed</c></summary>
    public const string RunResumed = "run.resumed";
    /// <summary><c>run.completed</c></summary>
    public const string RunCompleted = "run.completed";
    /// <summary><c>run.failed</c></summary>
    public const string RunFailed = "run.failed";
    /// <summary><c>run.cancelled</c></summary>
    public const string RunCancelled = "run.cancelled";
    /// <summary><c>subagent.started</c></summary>
    public const string SubagentStarted = "subagent.started";
    /// <summary><c>subagent.ended</c></summary>
    public const string SubagentEnded = "subagent.ended";

    /// <summary>The record type of each event type name.</summary>
    public static readonly FrozenDictionary<string, Type> ClrTypes = new Dictionary<string, Type>
    {
        [UserMessage] = typeof(UserMessageSent),
        [RunStarted] = typeof(Events.RunStarted),
        [MessageDelta] = typeof(MessageDeltaStreamed),
        [AssistantMessage] = typeof(AssistantMessageCompleted),
        [MessageInterrupted] = typeof(Events.MessageInterrupted),
        [Progress] = typeof(ProgressReported),
        [ToolCall] = typeof(ToolCalled),
        [ToolResult] = typeof(ToolResultReturned),
        [InputRequested] = typeof(Events.InputRequested),
        [InputReceived] = typeof(Events.InputReceived),
        [RunResumed] = typeof(Events.RunResumed),
        [RunCompleted] = typeof(Events.RunCompleted),
        [RunFailed] = typeof(Events.RunFailed),
        [RunCancelled] = typeof(Events.RunCancelled),
        [SubagentStarted] = typeof(Events.SubagentStarted),
        [SubagentEnded] = typeof(Events.SubagentEnded),
    }.ToFrozenDictionary();

    /// <summary>Whether the event type ends a run.</summary>
    public static bool IsTerminal(string type) => type is RunCompleted or RunFailed or RunCancelled;
}
