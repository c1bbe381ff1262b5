using System.Text.Json;
using Agents.Events;
using Agents.Grains.Conversations;
using Agents.Grains.Storage;

namespace Agents.Grains.Tests.Histories;

/// <summary>
/// The fold and the transcripts, read from recorded histories (stored logs of real runs, in the spirit of Temporal's
/// replay histories; <see cref="HistoryRecorder"/> records them). No silo: a history is folded as an activation
/// folds it, straight and through snapshots, and what the grain and the transcript would say is checked.
/// </summary>
public sealed class RecordedHistoryTests
{
    public static TheoryData<string> All => ["dinner", "ask", "cancel-mid-tool", "restart-mid-stream", "log-full", "usage-across-restart"];

    [Theory]
    [MemberData(nameof(All))]
    public void EveryHistory_KeepsTheInvariants_AndFoldsToAnEndedRun(string name)
    {
        var events = Load(name);
        LogInvariants.AssertHold(events);
        var state = Fold(events);
        Assert.Equal(events.Count, state.LastSeq);
        Assert.Null(state.ActiveRun);
        Assert.Equal(ConversationStatus.Idle, state.Status);
        Assert.All(state.History, item => Assert.Equal(events[1].RunId, item.RunId));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void ASnapshotAnywhere_FoldsToTheSameState(string name)
    {
        var events = Load(name);
        var straight = JsonSerializer.Serialize(Fold(events), AgentJson.Options);
        for (var cut = 1; cut < events.Count; cut++)
        {
            // As an activation does: the snapshot's JSON, then the events after it.
            var snapshot = JsonSerializer.Deserialize<ConversationState>(JsonSerializer.Serialize(Fold(events.Take(cut)), AgentJson.Options), AgentJson.Options)!;
            foreach (var e in events.Skip(cut))
            {
                snapshot.Apply(e);
            }

            Assert.Equal(straight, JsonSerializer.Serialize(snapshot, AgentJson.Options));
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void TheRunsUsage_IsTheSumOfItsCalls_InTheTerminalEvent_TheFold_AndTheTranscript(string name)
    {
        var events = Load(name);
        TokenUsage? calls = null;
        foreach (var e in events)
        {
            if (e.Data is IModelCallUsage { Usage: { } used })
            {
                calls = TokenUsage.Sum(calls, used);
            }
        }

        var terminal = events[^1].Data switch
        {
            RunCompleted c => c.Usage,
            RunFailed f => f.Usage,
            RunCancelled c => c.Usage,
            var other => throw new InvalidOperationException($"{name} ends with {other.Type}"),
        };
        Assert.Equal(calls, terminal);
        var state = Fold(events);
        Assert.Equal(calls, state.Runs.Single().Usage);

        var transcript = Transcripts.BuildLastRun(state);
        using var run = JsonDocument.Parse(transcript.Transcript);
        Assert.Equal(calls, UsageIn(run.RootElement));
        var record = new ConversationRecord(state.Id, state.Owner, state.Title, state.Status, state.CreatedAt, state.UpdatedAt, state.LastSeq, state.LastRunOutcome);
        using var document = JsonDocument.Parse(Transcripts.Document(record, [transcript]));
        Assert.Equal(calls, UsageIn(document.RootElement));
    }

    /// <summary>
    /// The fold, projected after every event, is the committed <c>name.fold.json</c> that the JavaScript package's
    /// reducer is tested against (clients/js/test): a change to the server's fold shows up here and, once the file is
    /// written again (<c>AGENTS_WRITE_FOLDS=1</c> with this test), there.
    /// </summary>
    [Theory]
    [MemberData(nameof(All))]
    public void TheFold_AfterEveryEvent_IsTheCommittedProjection(string name)
    {
        var projection = FoldProjection.Of(Load(name)).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        if (Environment.GetEnvironmentVariable("AGENTS_WRITE_FOLDS") == "1")
        {
            File.WriteAllText(Path.Combine(SourceDirectory(), $"{name}.fold.json"), projection);
        }

        var committed = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Histories", $"{name}.fold.json"));
        Assert.Equal(committed.ReplaceLineEndings("\n"), projection);
    }

    [Fact]
    public void Dinner_CompletesWithTheReservationApproved_AndItsTranscriptHasEveryStep()
    {
        var events = Load("dinner");
        var state = Fold(events);
        Assert.Equal(RunOutcome.Completed, state.LastRunOutcome);
        Assert.Contains(state.ClosedRequests, id => events.Any(e => e.Data is InputRequested r && r.RequestId == id));
        Assert.Equal(["user", "assistant", "tool", "assistant", "tool", "assistant"], state.History.Select(Kind));
        Assert.NotNull(events.Select(e => e.Data).OfType<RunCompleted>().Single().Usage);

        using var transcript = JsonDocument.Parse(Transcripts.BuildLastRun(state).Transcript);
        var items = transcript.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(state.History.Count, items.Count);
        Assert.Equal("completed", transcript.RootElement.GetProperty("outcome").GetString());
        Assert.Contains("confirmation", items[4].GetProperty("result").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Ask_TheAnswerIsTheToolsResult_AndTheRequestIsClosed()
    {
        var events = Load("ask");
        var state = Fold(events);
        var request = events.Select(e => e.Data).OfType<InputRequested>().Single();
        Assert.Equal(InputKinds.Question, request.Kind);
        var result = state.History.OfType<ToolResultItem>().Single();
        Assert.Equal(request.CallId, result.CallId);
        Assert.Equal("\"Lisbon\"", result.Result);
        Assert.Contains(request.RequestId, state.ClosedRequests);
        Assert.Equal(RunOutcome.Completed, state.LastRunOutcome);
    }

    [Fact]
    public void CancelMidTool_TheRunningCallIsClosedAsCancelled_BeforeTheEnd()
    {
        var events = Load("cancel-mid-tool");
        var state = Fold(events);
        Assert.Equal(RunOutcome.Cancelled, state.LastRunOutcome);
        Assert.Equal([EventTypes.ToolCall, EventTypes.ToolResult, EventTypes.RunCancelled], LogInvariants.Types(events.TakeLast(3)));
        Assert.Equal("cancelled", Assert.IsType<ToolResultReturned>(events[^2].Data).Error?.Code);
        Assert.Equal(RunOutcome.Cancelled, Assert.Single(state.Runs).Outcome);
    }

    [Fact]
    public void RestartMidStream_TheCutMessageIsInterrupted_AndTheModelNeverSeesIt()
    {
        var events = Load("restart-mid-stream");
        var resumedAt = events.FindIndex(e => e.Type == EventTypes.RunResumed);
        var interrupted = Assert.IsType<MessageInterrupted>(events[resumedAt - 1].Data);
        Assert.Equal(InterruptReasons.Restart, interrupted.Reason);
        var state = Fold(events);
        Assert.DoesNotContain(state.History.OfType<AssistantItem>(), a => a.MessageId == interrupted.MessageId);
        Assert.Equal(RunOutcome.Completed, state.LastRunOutcome);

        // Folded up to the kill, the state is what the next activation resumes from: a run with an open message.
        var beforeKill = Fold(events.Take(resumedAt - 1));
        Assert.Equal(interrupted.MessageId, beforeKill.ActiveRun?.OpenMessage?.MessageId);
        Assert.Equal(ConversationStatus.Running, beforeKill.Status);
    }

    [Fact]
    public void LogFull_TheRunFailsAtTheCap_WithWhatWasOpenClosed()
    {
        var events = Load("log-full");
        Assert.Equal(12, events.Count);
        var failed = Assert.IsType<RunFailed>(events[^1].Data);
        Assert.Equal("log_full", failed.Error.Code);
        var state = Fold(events);
        Assert.Equal(RunOutcome.Failed, state.LastRunOutcome);
        Assert.Equal("log_full", state.Runs.Single().Error?.Code);
    }

    [Fact]
    public void UsageAcrossRestart_CountsTheCallsBeforeAndAfterIt()
    {
        var events = Load("usage-across-restart");
        // The process was killed while the run waited for approval; the answer activated it on the next one. A waiting
        // run is not resumed (nothing ran), so the boundary in the log is the answer.
        var restart = events.FindIndex(e => e.Type == EventTypes.InputReceived);
        Assert.True(restart > 0, "the history has an answer");
        var before = events.Take(restart).Select(e => e.Data).OfType<IModelCallUsage>().Count(c => c.Usage is not null);
        var after = events.Skip(restart).Select(e => e.Data).OfType<IModelCallUsage>().Count(c => c.Usage is not null);
        Assert.Equal(2, before);
        Assert.Equal(1, after);
        // Summed over the three calls, not only the one made after the restart (which is what an in-memory sum gave).
        static TokenUsage? Sum(IEnumerable<EventEnvelope> part) =>
            part.Select(e => e.Data).OfType<IModelCallUsage>().Aggregate((TokenUsage?)null, (sum, c) => TokenUsage.Sum(sum, c.Usage));
        var completed = events.Select(e => e.Data).OfType<RunCompleted>().Single().Usage;
        Assert.Equal(Sum(events), completed);
        Assert.Equal(TokenUsage.Sum(Sum(events.Take(restart)), Sum(events.Skip(restart))), completed);
        Assert.True(completed!.InputTokens > Sum(events.Skip(restart))!.InputTokens);
    }

    private static List<EventEnvelope> Load(string name) =>
        JsonSerializer.Deserialize<List<EventEnvelope>>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Histories", $"{name}.json")), AgentJson.Options)!;

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string file = "") => Path.GetDirectoryName(file)!;

    private static ConversationState Fold(IEnumerable<EventEnvelope> events)
    {
        var list = events.ToList();
        var state = new ConversationState { Id = list[0].ConversationId, Owner = "alice", Title = "recorded", CreatedAt = list[0].At };
        foreach (var e in list)
        {
            state.Apply(e);
        }

        return state;
    }

    private static string Kind(HistoryItem item) => item switch
    {
        UserItem => "user",
        AssistantItem => "assistant",
        ToolResultItem => "tool",
        _ => item.GetType().Name,
    };

    private static TokenUsage? UsageIn(JsonElement element) =>
        element.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
            ? new TokenUsage(u.GetProperty("inputTokens").GetInt64(), u.GetProperty("outputTokens").GetInt64())
            : null;
}
