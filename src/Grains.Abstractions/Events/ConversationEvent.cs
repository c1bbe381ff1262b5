using System.Text.Json.Serialization;

namespace Agents.Events;

/// <summary>
/// The data of one entry of a conversation's log; each subtype is one event type of the contract.
/// Events are only ever appended, never changed: add new types or optional fields, never repurpose one.
/// </summary>
[GenerateSerializer, Immutable, Alias("agents.ConversationEvent")]
public abstract record ConversationEvent
{
    /// <summary>The contract's type name, such as <c>message.delta</c>.</summary>
    [JsonIgnore]
    public abstract string Type { get; }
}

/// <summary><c>message.user</c>: a user message.</summary>
[GenerateSerializer, Immutable, Alias("agents.UserMessageSent")]
public sealed record UserMessageSent(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Text,
    [property: Id(2)] string? ClientMessageId = null,
    [property: Id(3)] bool? Queued = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.UserMessage;
}

/// <summary><c>run.started</c>: the agent loop started.</summary>
[GenerateSerializer, Immutable, Alias("agents.RunStarted")]
public sealed record RunStarted : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunStarted;
}

/// <summary><c>message.delta</c>: a streamed piece of an assistant message.</summary>
[GenerateSerializer, Immutable, Alias("agents.MessageDeltaStreamed")]
public sealed record MessageDeltaStreamed(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Text) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.MessageDelta;
}

/// <summary><c>message.assistant</c>: the complete assistant message, equal to its deltas concatenated.</summary>
/// <param name="MessageId">The message.</param>
/// <param name="Text">Its whole text.</param>
/// <param name="Usage">The tokens of the model call that produced it, when the provider reported them.</param>
[GenerateSerializer, Immutable, Alias("agents.AssistantMessageCompleted")]
public sealed record AssistantMessageCompleted(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Text,
    [property: Id(2)] TokenUsage? Usage = null) : ConversationEvent, IModelCallUsage
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.AssistantMessage;
}

/// <summary><c>message.interrupted</c>: a streamed message that will never complete.</summary>
/// <param name="MessageId">The message.</param>
/// <param name="Reason">One of <see cref="InterruptReasons"/>.</param>
/// <param name="Usage">The tokens of the failed model call, when the provider reported them before it failed.</param>
[GenerateSerializer, Immutable, Alias("agents.MessageInterrupted")]
public sealed record MessageInterrupted(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Reason,
    [property: Id(2)] TokenUsage? Usage = null) : ConversationEvent, IModelCallUsage
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.MessageInterrupted;
}

/// <summary><c>progress</c>: a short human status line.</summary>
[GenerateSerializer, Immutable, Alias("agents.ProgressReported")]
public sealed record ProgressReported([property: Id(0)] string Text) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.Progress;
}

/// <summary><c>tool.call</c>: the agent calls a tool; stored before the tool runs.</summary>
/// <param name="CallId">The call's id; tools receive it as an idempotency key.</param>
/// <param name="Name">The tool's name as the model sees it (it may carry a plugin prefix).</param>
/// <param name="Arguments">The arguments, a JSON object (raw JSON text).</param>
/// <param name="Usage">
/// On the first call of a response without text only: the tokens of the model call (otherwise they are on its
/// <c>message.assistant</c>).
/// </param>
[GenerateSerializer, Immutable, Alias("agents.ToolCalled")]
public sealed record ToolCalled(
    [property: Id(0)] string CallId,
    [property: Id(1)] string Name,
    [property: Id(2), JsonConverter(typeof(RawJsonConverter))] string Arguments,
    [property: Id(3)] TokenUsage? Usage = null) : ConversationEvent, IModelCallUsage
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.ToolCall;
}

/// <summary><c>tool.result</c>: the outcome of a tool call, exactly one per <c>tool.call</c>.</summary>
/// <param name="CallId">The call.</param>
/// <param name="Name">The tool's name, as in the call.</param>
/// <param name="Result">The tool's result as raw JSON, when it succeeded.</param>
/// <param name="Error">Why it did not, otherwise.</param>
[GenerateSerializer, Immutable, Alias("agents.ToolResultReturned")]
public sealed record ToolResultReturned(
    [property: Id(0)] string CallId,
    [property: Id(1)] string Name,
    [property: Id(2), JsonConverter(typeof(RawJsonConverter))] string? Result,
    [property: Id(3)] ErrorInfo? Error) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.ToolResult;
}

/// <summary><c>input.requested</c>: the agent waits for the user.</summary>
/// <param name="RequestId">The request, to be answered with <c>Respond</c>.</param>
/// <param name="Kind"><see cref="InputKinds.Approval"/> or <see cref="InputKinds.Question"/>.</param>
/// <param name="Prompt">What to show the user.</param>
/// <param name="CallId">The tool call waiting for it.</param>
/// <param name="Name">That tool's name.</param>
/// <param name="Arguments">That call's arguments (raw JSON object).</param>
[GenerateSerializer, Immutable, Alias("agents.InputRequested")]
public sealed record InputRequested(
    [property: Id(0)] string RequestId,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Prompt,
    [property: Id(3)] string CallId,
    [property: Id(4)] string Name,
    [property: Id(5), JsonConverter(typeof(RawJsonConverter))] string Arguments) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.InputRequested;
}

/// <summary><c>input.received</c>: the user's answer.</summary>
[GenerateSerializer, Immutable, Alias("agents.InputReceived")]
public sealed record InputReceived(
    [property: Id(0)] string RequestId,
    [property: Id(1)] bool? Approved,
    [property: Id(2)] string? Text) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.InputReceived;
}

/// <summary><c>run.resumed</c>: the run continues after a restart or failover.</summary>
[GenerateSerializer, Immutable, Alias("agents.RunResumed")]
public sealed record RunResumed([property: Id(0)] string Reason) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunResumed;
}

/// <summary><c>run.completed</c>: the agent answered. Terminal.</summary>
/// <param name="Usage">The sum of the usage of every model call of the run, restarts and retries included.</param>
[GenerateSerializer, Immutable, Alias("agents.RunCompleted")]
public sealed record RunCompleted([property: Id(0)] TokenUsage? Usage = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunCompleted;
}

/// <summary><c>run.failed</c>: the run ended with an error. Terminal.</summary>
/// <param name="Error">Why.</param>
/// <param name="Usage">The sum of the usage of the run's model calls, when any was reported.</param>
[GenerateSerializer, Immutable, Alias("agents.RunFailed")]
public sealed record RunFailed([property: Id(0)] ErrorInfo Error, [property: Id(1)] TokenUsage? Usage = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunFailed;
}

/// <summary><c>subagent.started</c>: a <c>start_subagents</c> call started a child conversation; recorded before it runs.</summary>
/// <param name="CallId">The <c>start_subagents</c> call.</param>
/// <param name="ChildId">The child conversation (derived from this conversation, the call and the task's place).</param>
/// <param name="Title">The task's title.</param>
[GenerateSerializer, Immutable, Alias("agents.SubagentStarted")]
public sealed record SubagentStarted(
    [property: Id(0)] string CallId,
    [property: Id(1)] string ChildId,
    [property: Id(2)] string Title) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.SubagentStarted;
}

/// <summary><c>subagent.ended</c>: a child conversation's run ended.</summary>
/// <param name="CallId">The <c>start_subagents</c> call.</param>
/// <param name="ChildId">The child conversation.</param>
/// <param name="Outcome">How its run ended.</param>
/// <param name="Text">Its last assistant message, if any.</param>
/// <param name="Error">Why it failed, if it did (or could not start).</param>
[GenerateSerializer, Immutable, Alias("agents.SubagentEnded")]
public sealed record SubagentEnded(
    [property: Id(0)] string CallId,
    [property: Id(1)] string ChildId,
    [property: Id(2)] RunOutcome Outcome,
    [property: Id(3)] string? Text = null,
    [property: Id(4)] ErrorInfo? Error = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.SubagentEnded;
}

/// <summary><c>run.cancelled</c>: the user cancelled the run. Terminal.</summary>
/// <param name="Usage">The sum of the usage of the run's model calls, when any was reported.</param>
[GenerateSerializer, Immutable, Alias("agents.RunCancelled")]
public sealed record RunCancelled([property: Id(0)] TokenUsage? Usage = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunCancelled;
}

/// <summary>An error: a stable machine-readable code and a human message.</summary>
[GenerateSerializer, Immutable, Alias("agents.ErrorInfo")]
public sealed record ErrorInfo(
    [property: Id(0)] string Code,
    [property: Id(1)] string Message);

/// <summary>Tokens a run consumed, as the model provider reports them.</summary>
[GenerateSerializer, Immutable, Alias("agents.TokenUsage")]
public sealed record TokenUsage(
    [property: Id(0)] long InputTokens,
    [property: Id(1)] long OutputTokens)
{
    /// <summary>The sum of two usages.</summary>
    public static TokenUsage operator +(TokenUsage left, TokenUsage right) =>
        new(left.InputTokens + right.InputTokens, left.OutputTokens + right.OutputTokens);

    /// <summary>The sum of two usages either of which may be unknown; unknown only when both are.</summary>
    public static TokenUsage? Sum(TokenUsage? left, TokenUsage? right) =>
        left is null ? right : right is null ? left : left + right;
}

/// <summary>
/// An event that closes one model call and may carry the tokens the provider reported for it. The usage of every call
/// is in the log, so a run's total is a fold of it and survives restarts.
/// </summary>
public interface IModelCallUsage
{
    /// <summary>The call's tokens, when reported.</summary>
    TokenUsage? Usage { get; }
}

/// <summary>Kinds of <c>input.requested</c>.</summary>
public static class InputKinds
{
    /// <summary>The user approves or denies a tool call.</summary>
    public const string Approval = "approval";

    /// <summary>The user answers the agent's question (<c>ask_user</c>).</summary>
    public const string Question = "question";
}

/// <summary>Reasons of <c>message.interrupted</c> and <c>run.resumed</c>.</summary>
public static class InterruptReasons
{
    /// <summary>The process running the step stopped.</summary>
    public const string Restart = "restart";

    /// <summary>The model call failed mid-stream.</summary>
    public const string ModelError = "model_error";

    /// <summary>A message sent with mode <c>interrupt</c> cut the step; it restarts with that message.</summary>
    public const string Superseded = "superseded";

    /// <summary>The user cancelled the run.</summary>
    public const string Cancelled = "cancelled";
}
