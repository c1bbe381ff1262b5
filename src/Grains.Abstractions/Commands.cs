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

/// <summary>A user message: starts a run when the conversation is idle; what it does to an active run says <see cref="Mode"/>.</summary>
/// <param name="Text">The message.</param>
/// <param name="ClientMessageId">
/// The same id with the same text returns the first message's seq and appends nothing;
/// with another text it is a conflict.
/// </param>
/// <param name="Mode">
/// One of <see cref="MessageModes"/>: <c>steer</c> (the default) joins the active run at its next step, <c>queue</c>
/// starts the next run when the active one ends, <c>interrupt</c> cuts the streaming step and restarts it with the
/// message, <c>reject</c> is a conflict while a run is active.
/// </param>
[GenerateSerializer, Immutable, Alias("agents.SendMessage")]
public sealed record SendMessage(
    [property: Id(0)] string Text,
    [property: Id(1)] string? ClientMessageId = null,
    [property: Id(2)] string? Mode = null);

/// <summary>What a message sent while a run is active does to it.</summary>
public static class MessageModes
{
    /// <summary>Joins the run: the model sees it at its next step (after the tools of the step in flight).</summary>
    public const string Steer = "steer";

    /// <summary>Waits: stored as a queued message, it starts a run of its own when the active one ends, in order.</summary>
    public const string Queue = "queue";

    /// <summary>Cuts the streaming step (<c>message.interrupted</c> <c>superseded</c>) and restarts it with the message.</summary>
    public const string Interrupt = "interrupt";

    /// <summary>Refused with <c>conflict</c> while a run is running or waiting.</summary>
    public const string Reject = "reject";

    /// <summary>Every mode, the default first.</summary>
    public static readonly IReadOnlyList<string> All = [Steer, Queue, Interrupt, Reject];
}

/// <summary>Forks a conversation: a new one whose log begins with copies of events 1..<paramref name="AfterSeq"/>.</summary>
/// <param name="AfterSeq">Where the copy ends: a seq at which no run is open (0 copies nothing).</param>
[GenerateSerializer, Immutable, Alias("agents.ForkConversation")]
public sealed record ForkConversation([property: Id(0)] long AfterSeq);

/// <summary>The user's answer to an open <c>input.requested</c>.</summary>
/// <param name="RequestId">The request answered.</param>
/// <param name="Approved">For an <c>approval</c>: whether the tool call may run.</param>
/// <param name="Text">For a <c>question</c>: the answer (for an approval, an optional remark).</param>
[GenerateSerializer, Immutable, Alias("agents.Respond")]
public sealed record Respond(
    [property: Id(0)] string RequestId,
    [property: Id(1)] bool? Approved = null,
    [property: Id(2)] string? Text = null);
