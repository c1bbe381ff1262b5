namespace Agents;

/// <summary>Starts a conversation; with <see cref="Text"/> its first run starts at once.</summary>
/// <param name="Title">A title; when absent it is taken from the text.</param>
/// <param name="Text">The first user message.</param>
/// <param name="ClientMessageId">Makes the first message idempotent, as for <see cref="SendMessage"/>.</param>
[GenerateSerializer, Immutable, Alias("agents.CreateConversation")]
public sealed record CreateConversation(
    [property: Id(0)] string? Title = null,
    [property: Id(1)] string? Text = null,
    [property: Id(2)] string? ClientMessageId = null);

/// <summary>A user message: starts a run when the conversation is idle, joins the running one otherwise.</summary>
/// <param name="Text">The message.</param>
/// <param name="ClientMessageId">
/// The same id with the same text returns the first message's seq and appends nothing;
/// with another text it is a conflict.
/// </param>
[GenerateSerializer, Immutable, Alias("agents.SendMessage")]
public sealed record SendMessage(
    [property: Id(0)] string Text,
    [property: Id(1)] string? ClientMessageId = null);

/// <summary>The user's answer to an open <c>input.requested</c>.</summary>
/// <param name="RequestId">The request answered.</param>
/// <param name="Approved">For an <c>approval</c>: whether the tool call may run.</param>
/// <param name="Text">For a <c>question</c>: the answer (for an approval, an optional remark).</param>
[GenerateSerializer, Immutable, Alias("agents.Respond")]
public sealed record Respond(
    [property: Id(0)] string RequestId,
    [property: Id(1)] bool? Approved = null,
    [property: Id(2)] string? Text = null);
