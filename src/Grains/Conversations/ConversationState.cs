using System.Text.Json.Serialization;
using Agents.Events;

namespace Agents.Grains.Conversations;

/// <summary>
/// A fold of the conversation's log: everything the grain needs to decide its next step, and nothing the log
/// cannot rebuild. Serialized as JSON for snapshots.
/// </summary>
public sealed class ConversationState
{
    public string Id { get; set; } = "";
    public string Owner { get; set; } = "";
    public string Title { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public long LastSeq { get; set; }
    public RunOutcome? LastRunOutcome { get; set; }

    /// <summary>The conversation this one is a sub-agent of; null at the top.</summary>
    public string? ParentId { get; set; }

    /// <summary>How deep among sub-agents: 0 at the top.</summary>
    public int Depth { get; set; }

    /// <summary>Where this conversation was forked from; null when it was not.</summary>
    public ForkOrigin? ForkedFrom { get; set; }

    /// <summary>The run that has not ended, if any.</summary>
    public RunState? ActiveRun { get; set; }

    /// <summary>The conversation as the model sees it, in the order the model must see it.</summary>
    public List<HistoryItem> History { get; set; } = [];

    /// <summary>
    /// Messages sent with mode <c>queue</c> during a run, oldest first: each starts a run of its own when the one
    /// before it ends (the log appends that <c>run.started</c> with the end), so a queue is never left without a run.
    /// </summary>
    public List<UserItem> Queue { get; set; } = [];

    /// <summary>Every run, for the transcript.</summary>
    public List<RunSummary> Runs { get; set; } = [];

    /// <summary>Client message id → the first message sent with it.</summary>
    public Dictionary<string, ClientMessage> ClientMessages { get; set; } = [];

    /// <summary>Request id → the answer it got, so that a repeat of the same answer is told its seq again.</summary>
    public Dictionary<string, RecordedAnswer> Answers { get; set; } = [];

    /// <summary>Input requests that were answered or died with their run: answering them is a conflict.</summary>
    public HashSet<string> ClosedRequests { get; set; } = [];

    /// <summary>Every tool call id used, so that a model's reused id is replaced by a fresh one.</summary>
    public HashSet<string> CallIds { get; set; } = [];

    [JsonIgnore]
    public ConversationStatus Status => ActiveRun switch
    {
        null => ConversationStatus.Idle,
        { IsWaiting: true } => ConversationStatus.Waiting,
        _ => ConversationStatus.Running,
    };

    /// <summary>Applies the next event of the log.</summary>
    /// <exception cref="InvalidOperationException">The event is not the next seq.</exception>
    public void Apply(EventEnvelope e)
    {
        if (e.Seq != LastSeq + 1)
        {
            throw new InvalidOperationException($"Event seq {e.Seq} does not follow {LastSeq} in conversation {Id}.");
        }

        LastSeq = e.Seq;
        UpdatedAt = e.At;
        var run = ActiveRun;
        if (run is { AwaitingCalls: true } && e.Data is not ToolCalled)
        {
            // A response's calls are appended with its text; anything else after the text means it had none.
            run.AwaitingCalls = false;
            CloseStep(run);
        }

        if (run is not null && e.Data is IModelCallUsage { Usage: { } used })
        {
            run.Usage = TokenUsage.Sum(run.Usage, used);
        }

        switch (e.Data)
        {
            case UserMessageSent m:
                if (m.ClientMessageId is not null)
                {
                    ClientMessages.TryAdd(m.ClientMessageId, new ClientMessage(e.Seq, m.Text));
                }

                var user = new UserItem(e.Seq, e.At, e.RunId, m.MessageId, m.Text);
                if (m.Queued == true)
                {
                    Queue.Add(user);
                }
                else if (run is not null)
                {
                    // Sent mid-run: the step in flight did not see it. It joins the history once that step is
                    // closed (its output recorded, its tools settled), and the next prompt ends with it meanwhile.
                    run.Deferred.Add(user);
                }
                else
                {
                    History.Add(user);
                }

                break;

            case Events.RunStarted:
                if (Queue.Count > 0)
                {
                    // A run started while messages wait is the first one's: the log starts it in the batch that ends
                    // the run before, so the conversation is never idle with a queue and no other message gets there first.
                    History.Add(Queue[0] with { RunId = e.RunId });
                    Queue.RemoveAt(0);
                }

                ActiveRun = new RunState { RunId = e.RunId ?? "", StartedAt = e.At };
                Runs.Add(new RunSummary { RunId = e.RunId ?? "", StartedAt = e.At });
                break;

            case MessageDeltaStreamed d when run is not null:
                if (run.OpenMessage?.MessageId != d.MessageId)
                {
                    run.OpenMessage = new OpenMessage { MessageId = d.MessageId };
                }

                run.OpenMessage.Append(d.Text);
                break;

            case AssistantMessageCompleted a when run is not null:
                run.OpenMessage = null;
                run.ModelSteps++;
                run.AwaitingCalls = true;
                History.Add(new AssistantItem(e.Seq, e.At, e.RunId, a.MessageId, a.Text, []));
                break;

            case Events.MessageInterrupted i when run is not null:
                run.OpenMessage = null;
                if (i.Reason == InterruptReasons.Superseded)
                {
                    // Cut for a message sent with mode interrupt: the step is over, and the restarted one sees it.
                    CloseStep(run);
                }

                break;

            case ToolCalled c when run is not null:
                CallIds.Add(c.CallId);
                run.AwaitingCalls = false;
                // The calls of one model response are appended together, right after its text, so they follow it directly.
                if (History.LastOrDefault() is AssistantItem last && last.RunId == e.RunId)
                {
                    last.Calls.Add(new ToolCallItem(c.CallId, c.Name, c.Arguments));
                }
                else
                {
                    // A response with tool calls and no text: its assistant turn starts here.
                    run.ModelSteps++;
                    History.Add(new AssistantItem(e.Seq, e.At, e.RunId, null, null, [new ToolCallItem(c.CallId, c.Name, c.Arguments)]));
                }

                run.PendingCalls.Add(new PendingCall { CallId = c.CallId, Name = c.Name, Arguments = c.Arguments });
                break;

            case Events.InputRequested r when run is not null:
                if (run.PendingCalls.Find(p => p.CallId == r.CallId) is { } waiting)
                {
                    waiting.RequestId = r.RequestId;
                    waiting.RequestKind = r.Kind;
                }

                break;

            case Events.InputReceived r when run is not null:
                ClosedRequests.Add(r.RequestId);
                Answers.TryAdd(r.RequestId, new RecordedAnswer(e.Seq, r.Approved, r.Text));
                if (run.PendingCalls.Find(p => p.RequestId == r.RequestId) is { } answered)
                {
                    answered.Answered = true;
                    answered.Approved = r.Approved;
                    answered.AnswerText = r.Text;
                }

                break;

            case Events.SubagentStarted s when run is not null:
                run.PendingCalls.Find(p => p.CallId == s.CallId)?.Subagents.Add(new Subagent { ChildId = s.ChildId, Title = s.Title });
                break;

            case Events.SubagentEnded s when run is not null:
                if (run.PendingCalls.Find(p => p.CallId == s.CallId)?.Subagents.Find(c => c.ChildId == s.ChildId) is { } child)
                {
                    (child.Outcome, child.Text, child.Error) = (s.Outcome, s.Text, s.Error);
                }

                break;

            case ToolResultReturned t when run is not null:
                if (run.PendingCalls.Find(p => p.CallId == t.CallId) is { RequestId: { } settled })
                {
                    ClosedRequests.Add(settled);
                }

                run.PendingCalls.RemoveAll(p => p.CallId == t.CallId);
                History.Add(new ToolResultItem(e.Seq, e.At, e.RunId, t.CallId, t.Name, t.Result, t.Error));
                CloseStep(run);
                break;

            case Events.RunCompleted c when run is not null:
                EndRun(run, RunOutcome.Completed, e.At, c.Usage ?? run.Usage, null);
                break;

            case Events.RunFailed f when run is not null:
                EndRun(run, RunOutcome.Failed, e.At, f.Usage ?? run.Usage, f.Error);
                break;

            case Events.RunCancelled c when run is not null:
                EndRun(run, RunOutcome.Cancelled, e.At, c.Usage ?? run.Usage, null);
                break;
        }
    }

    /// <summary>Once the step's tools are settled, the messages sent during it join the history.</summary>
    private void CloseStep(RunState run)
    {
        if (run.PendingCalls.Count == 0 && run.Deferred.Count > 0)
        {
            History.AddRange(run.Deferred);
            run.Deferred.Clear();
        }
    }

    private void EndRun(RunState run, RunOutcome outcome, DateTimeOffset at, TokenUsage? usage, ErrorInfo? error)
    {
        foreach (var call in run.PendingCalls.Where(c => c.RequestId is not null))
        {
            ClosedRequests.Add(call.RequestId!);
        }

        run.PendingCalls.Clear();
        CloseStep(run);
        ActiveRun = null;
        LastRunOutcome = outcome;
        if (Runs.LastOrDefault() is { } summary && summary.RunId == run.RunId)
        {
            summary.EndedAt = at;
            summary.Outcome = outcome;
            summary.Usage = usage;
            summary.Error = error;
        }
    }
}

public sealed record ClientMessage(long Seq, string Text);

public sealed record RecordedAnswer(long Seq, bool? Approved, string? Text);

public sealed class RunSummary
{
    public string RunId { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
    public RunOutcome? Outcome { get; set; }
    public TokenUsage? Usage { get; set; }
    public ErrorInfo? Error { get; set; }
}

[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(UserItem), "user")]
[JsonDerivedType(typeof(AssistantItem), "assistant")]
[JsonDerivedType(typeof(ToolResultItem), "tool")]
public abstract record HistoryItem(long Seq, DateTimeOffset At, string? RunId);

public sealed record UserItem(long Seq, DateTimeOffset At, string? RunId, string MessageId, string Text) : HistoryItem(Seq, At, RunId);

public sealed record AssistantItem(long Seq, DateTimeOffset At, string? RunId, string? MessageId, string? Text, List<ToolCallItem> Calls)
    : HistoryItem(Seq, At, RunId);

public sealed record ToolCallItem(string CallId, string Name, string Arguments);

public sealed record ToolResultItem(long Seq, DateTimeOffset At, string? RunId, string CallId, string Name, string? Result, ErrorInfo? Error)
    : HistoryItem(Seq, At, RunId);
