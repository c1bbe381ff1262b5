using Agents.Api.Protocols;
using Agents.Api.Protocols.UiMessageStream;
using Agents.Events;

namespace Agents.Api.Tests.Protocols;

public sealed class UiMessageStreamProjectionTests
{
    [Fact]
    public void Project_RunToAnOpenApproval_StreamsTheTurnAndEndsWithTheApprovalRequest()
    {
        var frames = UiMessageStreamProjection.Project(RecordedRuns.WaitingForApproval());

        Assert.Equal(
            ["start", "start-step", "data-progress", "text-start", "text-delta", "text-delta", "text-end",
             "tool-input-start", "tool-input-available", "tool-approval-request", "finish-step", "finish", "[DONE]"],
            Types(frames));
        Assert.Equal("r_1", (string?)frames[0].Data!["messageId"]);
        var approval = frames.Single(f => Type(f) == "tool-approval-request").Data!;
        Assert.Equal("q_1", (string?)approval["approvalId"]);
        Assert.Equal("call_1", (string?)approval["toolCallId"]);
        Assert.Equal("make_reservation", (string?)frames.Single(f => Type(f) == "tool-input-start").Data!["toolName"]);
        Assert.Equal(2, (int?)frames.Single(f => Type(f) == "tool-input-available").Data!["input"]!["people"]);
    }

    [Fact]
    public void Project_FromTheAnswer_StartsTheSameMessageAndGoesOnToTheFinishWithUsage()
    {
        var log = RecordedRuns.ApprovedReservation();
        var frames = UiMessageStreamProjection.Project([.. log.SkipWhile(e => e.Data is not InputReceived)]);

        Assert.Equal(
            ["start", "tool-approval-response", "tool-output-available", "start-step", "text-start", "text-delta", "text-end",
             "finish-step", "finish", "[DONE]"],
            Types(frames));
        Assert.Equal("r_1", (string?)frames[0].Data!["messageId"]);
        Assert.True((bool?)frames[1].Data!["approved"]);
        Assert.Equal("ABC", (string?)frames[2].Data!["output"]!["confirmation"]);
        var usage = frames.Single(f => Type(f) == "finish").Data!["messageMetadata"]!["usage"]!;
        Assert.Equal(30, (long?)usage["inputTokens"]);
        Assert.Equal(7, (long?)usage["outputTokens"]);
    }

    [Theory]
    [MemberData(nameof(Logs))]
    public void Project_AnyPrefixOfTheLog_GivesAPrefixOfTheWholeStream(string name)
    {
        // A client cut off after any event and resumed with a replay sees the frames of one unbroken stream.
        var log = Named(name);
        var whole = UiMessageStreamProjection.Project(log).Select(Json).ToList();
        for (var k = 1; k < log.Count; k++)
        {
            var prefix = UiMessageStreamProjection.Project([.. log.Take(k)]).Select(Json).ToList();
            var open = prefix.Count > 0 && prefix[^1] == "[DONE]" && log[k - 1].Data is InputRequested;
            var comparable = open ? prefix.Take(prefix.FindLastIndex(p => p.Contains("tool-approval-request", StringComparison.Ordinal) || p.Contains("tool-input-available", StringComparison.Ordinal)) + 1).ToList() : prefix;
            Assert.Equal(whole.Take(comparable.Count), comparable);
        }
    }

    [Fact]
    public void Project_EveryFrame_CarriesTheSeqOfItsEvent()
    {
        var log = RecordedRuns.ApprovedReservation();
        var frames = UiMessageStreamProjection.Project(log);

        Assert.All(frames, f => Assert.Contains(log, e => e.Seq == f.Seq));
        Assert.Equal(frames.Select(f => f.Seq).Order(), frames.Select(f => f.Seq));
        Assert.Equal("id: 13\ndata: [DONE]\n\n", System.Text.Encoding.UTF8.GetString(ProtocolStreamResult.Format(frames[^1])));
    }

    [Fact]
    public void Project_RestartedRun_ClosesTheInterruptedTextAndStreamsTheRetryAsANewStep()
    {
        var frames = UiMessageStreamProjection.Project(RecordedRuns.Restarted());

        Assert.Equal(
            ["start", "start-step", "text-start", "text-delta", "text-end", "data-interrupted", "finish-step", "start-step",
             "text-start", "text-delta", "text-end", "finish-step", "finish", "[DONE]"],
            Types(frames));
        Assert.Equal("restart", (string?)frames[5].Data!["data"]!["reason"]);
    }

    [Fact]
    public void Project_QuestionAndCancel_LeavesAskUserForTheClientThenAborts()
    {
        var log = RecordedRuns.QuestionThenCancel();
        var waiting = UiMessageStreamProjection.Project([.. log.Take(4)]);
        Assert.Equal(["start", "start-step", "tool-input-start", "tool-input-available", "finish-step", "finish", "[DONE]"], Types(waiting));
        Assert.Equal("ask_user", (string?)waiting[2].Data!["toolName"]);

        var whole = UiMessageStreamProjection.Project(log);
        Assert.Equal(["text-end", "data-interrupted", "abort", "[DONE]"], Types(whole)[^4..]);
    }

    [Fact]
    public void FromLog_WhileWaiting_RestoresTheApprovalRequestedToolPartUnderTheClientsIds()
    {
        var messages = UiMessages.FromLog(RecordedRuns.WaitingForApproval());

        Assert.Equal(2, messages.Count);
        Assert.Equal("client-1", (string?)messages[0]!["id"]);
        var assistant = messages[1]!;
        Assert.Equal("r_1", (string?)assistant["id"]);
        var tool = assistant["parts"]!.AsArray().Single(p => (string?)p!["type"] == "tool-make_reservation")!;
        Assert.Equal("approval-requested", (string?)tool["state"]);
        Assert.Equal("q_1", (string?)tool["approval"]!["id"]);
        var text = assistant["parts"]!.AsArray().Single(p => (string?)p!["type"] == "text")!;
        Assert.Equal("Let me book it.", (string?)text["text"]);
    }

    [Fact]
    public void FromLog_FinishedRun_HasTheOutputAndTheUsage()
    {
        var assistant = UiMessages.FromLog(RecordedRuns.ApprovedReservation())[1]!;

        var tool = assistant["parts"]!.AsArray().Single(p => (string?)p!["type"] == "tool-make_reservation")!;
        Assert.Equal("output-available", (string?)tool["state"]);
        Assert.Equal(7, (long?)assistant["metadata"]!["usage"]!["outputTokens"]);
    }

    [Fact]
    public void Project_FanOut_OneDataPartPerChildThatItsOutcomeReplaces()
    {
        var frames = UiMessageStreamProjection.Project(RecordedRuns.FanOut());

        var cards = frames.Where(f => Type(f) == UiMessageStreamProjection.SubagentPart).Select(f => f.Data!).ToList();
        Assert.Equal(["subagent-c_1", "subagent-c_2", "subagent-c_2", "subagent-c_1"], cards.Select(c => (string)c["id"]!));
        Assert.Equal(["running", "running", "failed", "completed"], cards.Select(c => (string)c["data"]!["status"]!));
        Assert.Equal("Risk", (string?)cards[2]["data"]!["title"]);
        Assert.Equal("model_error", (string?)cards[2]["data"]!["error"]!["code"]);
        Assert.Equal("Cheap.", (string?)cards[3]["data"]!["text"]);

        // A page restored from the log shows each child once, in its last state.
        var restored = UiMessages.FromLog(RecordedRuns.FanOut());
        var parts = restored.SelectMany(m => m!["parts"]!.AsArray()).Where(p => (string?)p!["type"] == UiMessageStreamProjection.SubagentPart).ToList();
        Assert.Equal(["completed", "failed"], parts.Select(p => (string)p!["data"]!["status"]!));
    }

    public static TheoryData<string> Logs() => [nameof(RecordedRuns.ApprovedReservation), nameof(RecordedRuns.Restarted), nameof(RecordedRuns.QuestionThenCancel), nameof(RecordedRuns.FanOut)];

    private static IReadOnlyList<EventEnvelope> Named(string name) => name switch
    {
        nameof(RecordedRuns.ApprovedReservation) => RecordedRuns.ApprovedReservation(),
        nameof(RecordedRuns.Restarted) => RecordedRuns.Restarted(),
        nameof(RecordedRuns.FanOut) => RecordedRuns.FanOut(),
        _ => RecordedRuns.QuestionThenCancel(),
    };

    private static string Type(ProtocolFrame frame) => (string?)frame.Data?["type"] ?? "[DONE]";

    private static string[] Types(IReadOnlyList<ProtocolFrame> frames) => [.. frames.Select(Type)];

    private static string Json(ProtocolFrame frame) => frame.Data?.ToJsonString() ?? "[DONE]";
}
