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
    [property: Id(2)] string? ClientMessageId = null) : ConversationEvent
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
[GenerateSerializer, Immutable, Alias("agents.AssistantMessageCompleted")]
public sealed record AssistantMessageCompleted(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Text) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.AssistantMessage;
}

/// <summary><c>message.interrupted</c>: a streamed message that will never complete.</summary>
/// <param name="MessageId">The message.</param>
/// <param name="Reason">One of <see cref="InterruptReasons"/>.</param>
[GenerateSerializer, Immutable, Alias("agents.MessageInterrupted")]
public sealed record MessageInterrupted(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Reason) : ConversationEvent
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
[GenerateSerializer, Immutable, Alias("agents.ToolCalled")]
public sealed record ToolCalled(
    [property: Id(0)] string CallId,
    [property: Id(1)] string Name,
    [property: Id(2), JsonConverter(typeof(RawJsonConverter))] string Arguments) : ConversationEvent
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
[GenerateSerializer, Immutable, Alias("agents.RunCompleted")]
public sealed record RunCompleted([property: Id(0)] TokenUsage? Usage = null) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunCompleted;
}

/// <summary><c>run.failed</c>: the run ended with an error. Terminal.</summary>
[GenerateSerializer, Immutable, Alias("agents.RunFailed")]
public sealed record RunFailed([property: Id(0)] ErrorInfo Error) : ConversationEvent
{
    /// <inheritdoc />
    [JsonIgnore]
    public override string Type => EventTypes.RunFailed;
}

/// <summary><c>run.cancelled</c>: the user cancelled the run. Terminal.</summary>
[GenerateSerializer, Immutable, Alias("agents.RunCancelled")]
public sealed record RunCancelled : ConversationEvent
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

    /// <summary>The user cancelled the run.</summary>
    public const string Cancelled = "cancelled";
}
