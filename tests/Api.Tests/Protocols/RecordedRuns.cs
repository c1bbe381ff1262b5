using Agents.Events;

namespace Agents.Api.Tests.Protocols;

/// <summary>Logs as the grain records them, written out by hand: the projections are folds of these, no runtime needed.</summary>
internal static class RecordedRuns
{
    public const string Conversation = "chat_1";

    /// <summary>A question, a reservation approved, a tool result and the answer, with usage on the calls.</summary>
    public static IReadOnlyList<EventEnvelope> ApprovedReservation() => Log(
        (null, new UserMessageSent("m_u1", "Book a table [x]", "client-1")),
        ("r_1", new RunStarted()),
        ("r_1", new ProgressReported("Finding places")),
        ("r_1", new MessageDeltaStreamed("m_a1", "Let me ")),
        ("r_1", new MessageDeltaStreamed("m_a1", "book it.")),
        ("r_1", new AssistantMessageCompleted("m_a1", "Let me book it.", new TokenUsage(10, 3))),
        ("r_1", new ToolCalled("call_1", "Demo-make_reservation", """{"restaurant":"Luigi","time":"19:00","people":2}""")),
        ("r_1", new InputRequested("q_1", InputKinds.Approval, "Book Luigi?", "call_1", "Demo-make_reservation", """{"restaurant":"Luigi","time":"19:00","people":2}""")),
        ("r_1", new InputReceived("q_1", true, null)),
        ("r_1", new ToolResultReturned("call_1", "Demo-make_reservation", """{"confirmation":"ABC"}""", null)),
        ("r_1", new MessageDeltaStreamed("m_a2", "Booked: ABC.")),
        ("r_1", new AssistantMessageCompleted("m_a2", "Booked: ABC.", new TokenUsage(20, 4))),
        ("r_1", new RunCompleted(new TokenUsage(30, 7))));

    /// <summary>The same run, stopped where it waits for the user's approval.</summary>
    public static IReadOnlyList<EventEnvelope> WaitingForApproval() => [.. ApprovedReservation().Take(8)];

    /// <summary>A run whose process died mid-message: the message is interrupted, the run resumed and answered anew.</summary>
    public static IReadOnlyList<EventEnvelope> Restarted() => Log(
        (null, new UserMessageSent("m_u1", "Tell me a story", null)),
        ("r_1", new RunStarted()),
        ("r_1", new MessageDeltaStreamed("m_a1", "Once upon")),
        ("r_1", new MessageInterrupted("m_a1", InterruptReasons.Restart)),
        ("r_1", new RunResumed(InterruptReasons.Restart)),
        ("r_1", new MessageDeltaStreamed("m_a2", "Once upon a time.")),
        ("r_1", new AssistantMessageCompleted("m_a2", "Once upon a time.")),
        ("r_1", new RunCompleted(new TokenUsage(5, 5))));

    /// <summary>A question through ask_user, answered, then a cancel mid-message.</summary>
    public static IReadOnlyList<EventEnvelope> QuestionThenCancel() => Log(
        (null, new UserMessageSent("m_u1", "Plan dinner", null)),
        ("r_1", new RunStarted()),
        ("r_1", new ToolCalled("call_q", "UserInput-ask_user", """{"question":"How many people?"}""", new TokenUsage(8, 2))),
        ("r_1", new InputRequested("q_9", InputKinds.Question, "How many people?", "call_q", "UserInput-ask_user", """{"question":"How many people?"}""")),
        ("r_1", new InputReceived("q_9", null, "four")),
        ("r_1", new ToolResultReturned("call_q", "UserInput-ask_user", "\"four\"", null)),
        ("r_1", new MessageDeltaStreamed("m_a1", "For four")),
        ("r_1", new MessageInterrupted("m_a1", InterruptReasons.Cancelled)),
        ("r_1", new RunCancelled(new TokenUsage(8, 2))));

    /// <summary>Two sub-agents started by one call: one completes, one fails; then the call's result and the answer.</summary>
    public static IReadOnlyList<EventEnvelope> FanOut() => Log(
        (null, new UserMessageSent("m_u1", "Research two angles", null)),
        ("r_1", new RunStarted()),
        ("r_1", new ToolCalled("call_s", "subagents-start_subagents", """{"tasks":[{"title":"Cost","prompt":"p1"},{"title":"Risk","prompt":"p2"}]}""")),
        ("r_1", new SubagentStarted("call_s", "c_1", "Cost")),
        ("r_1", new SubagentStarted("call_s", "c_2", "Risk")),
        ("r_1", new SubagentEnded("call_s", "c_2", RunOutcome.Failed, Error: new ErrorInfo("model_error", "The model failed."))),
        ("r_1", new SubagentEnded("call_s", "c_1", RunOutcome.Completed, "Cheap.")),
        ("r_1", new ToolResultReturned("call_s", "subagents-start_subagents", """[{"childId":"c_1"},{"childId":"c_2"}]""", null)),
        ("r_1", new AssistantMessageCompleted("m_a1", "Cheap, and one angle failed.")),
        ("r_1", new RunCompleted(new TokenUsage(9, 9))));

    private static IReadOnlyList<EventEnvelope> Log(params (string? RunId, ConversationEvent Data)[] events)
    {
        var at = new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
        // The message that starts a run carries the run's id.
        return [.. events.Select((e, i) => new EventEnvelope(i + 1, Conversation,
            e.RunId ?? (e.Data is UserMessageSent && i + 1 < events.Length ? events[i + 1].RunId : null), at.AddMilliseconds(i), e.Data))];
    }
}
