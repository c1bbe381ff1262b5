using Agents.Api.Protocols;
using Agents.Api.Protocols.AgUi;
using Agents.Events;

namespace Agents.Api.Tests.Protocols;

public sealed class AgUiProjectionTests
{
    [Fact]
    public void Project_RunToAnOpenApproval_FinishesWithAnInterruptNamedByTheRequest()
    {
        var frames = AgUiProjection.Project(RecordedRuns.Conversation, RecordedRuns.WaitingForApproval());

        Assert.Equal(
            ["RUN_STARTED", "CUSTOM", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
             "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_FINISHED"],
            Types(frames));
        Assert.Equal(RecordedRuns.Conversation, (string?)frames[0].Data!["threadId"]);
        Assert.Equal("r_1", (string?)frames[0].Data!["runId"]);
        var outcome = frames[^1].Data!["outcome"]!;
        Assert.Equal("interrupt", (string?)outcome["type"]);
        var interrupt = outcome["interrupts"]![0]!;
        Assert.Equal("q_1", (string?)interrupt["id"]);
        Assert.Equal("confirmation", (string?)interrupt["reason"]);
        Assert.Equal("call_1", (string?)interrupt["toolCallId"]);
    }

    [Fact]
    public void Project_FromTheAnswer_StartsARunThatFinishesWithResultAndUsage()
    {
        var log = RecordedRuns.ApprovedReservation();
        var frames = AgUiProjection.Project(RecordedRuns.Conversation, [.. log.SkipWhile(e => e.Data is not InputReceived)]);

        Assert.Equal(["RUN_STARTED", "TOOL_CALL_RESULT", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"], Types(frames));
        Assert.Equal("call_1", (string?)frames[1].Data!["toolCallId"]);
        var finished = frames[^1].Data!;
        Assert.Equal("success", (string?)finished["outcome"]!["type"]);
        Assert.Equal("Booked: ABC.", (string?)finished["result"]!["text"]);
        Assert.Equal(37, (long?)finished["usage"]![0]!["totalTokens"]);
    }

    [Fact]
    public void Project_Cancelled_ClosesTheMessageAndFinishesCancelled()
    {
        var frames = AgUiProjection.Project(RecordedRuns.Conversation, RecordedRuns.QuestionThenCancel());

        Assert.Equal(["TEXT_MESSAGE_END", "CUSTOM", "RUN_FINISHED"], Types(frames)[^3..]);
        Assert.Equal("cancelled", (string?)frames[^1].Data!["outcome"]!["type"]);
        var question = AgUiProjection.Project(RecordedRuns.Conversation, [.. RecordedRuns.QuestionThenCancel().Take(4)])[^1].Data!;
        Assert.Equal("input_required", (string?)question["outcome"]!["interrupts"]![0]!["reason"]);
    }

    [Fact]
    public void Connect_MidMessage_SnapshotsThePartialTextAndReopensIt()
    {
        var log = RecordedRuns.ApprovedReservation().Take(4).ToList();
        var (messages, streaming) = AgUiMessages.FromLog(log);
        var projection = new AgUiProjection(RecordedRuns.Conversation);
        var opening = projection.Connect("r_1", 4, messages, streaming);

        Assert.Equal(["RUN_STARTED", "MESSAGES_SNAPSHOT", "TEXT_MESSAGE_START"], Types(opening));
        Assert.All(opening, f => Assert.Equal(4, f.Seq));
        var snapshot = opening[1].Data!["messages"]!.AsArray();
        Assert.Equal("client-1", (string?)snapshot[0]!["id"]);
        Assert.Equal("Let me ", (string?)snapshot[1]!["content"]);
        Assert.Equal("m_a1", (string?)opening[2].Data!["messageId"]);

        // Live from N+1: the rest of the message appends to the snapshot's text, nothing twice.
        var next = RecordedRuns.ApprovedReservation()[4];
        Assert.Equal(["TEXT_MESSAGE_CONTENT"], Types(projection.Apply(next)));
    }

    [Fact]
    public void FromLog_ToolCallsAndResults_UseTheIdsTheEventsUse()
    {
        var (messages, streaming) = AgUiMessages.FromLog(RecordedRuns.ApprovedReservation());

        Assert.Empty(streaming);
        var call = messages.Single(m => (string?)m!["id"] == "call_1")!;
        Assert.Equal("make_reservation", (string?)call["toolCalls"]![0]!["function"]!["name"]);
        var result = messages.Single(m => (string?)m!["role"] == "tool")!;
        Assert.Equal(AgUiMessages.ResultMessageId("call_1"), (string?)result["id"]);
    }

    [Fact]
    public void Project_FanOut_ACustomSubagentEventAsEachChildStartsAndEnds()
    {
        var frames = AgUiProjection.Project(RecordedRuns.Conversation, RecordedRuns.FanOut());

        var cards = frames.Where(f => (string?)f.Data!["type"] == "CUSTOM" && (string?)f.Data!["name"] == "subagent").Select(f => f.Data!["value"]!).ToList();
        Assert.Equal(["c_1", "c_2", "c_2", "c_1"], cards.Select(c => (string)c["childId"]!));
        Assert.Equal(["running", "running", "failed", "completed"], cards.Select(c => (string)c["status"]!));
        Assert.All(cards, c => Assert.Equal("call_s", (string?)c["callId"]));
        Assert.Equal("RUN_FINISHED", Types(frames)[^1]);
    }

    private static string[] Types(IReadOnlyList<ProtocolFrame> frames) => [.. frames.Select(f => (string)f.Data!["type"]!)];
}
