using System.Text;
using System.Text.Json.Serialization;
using Agents.Events;

namespace Agents.Grains.Conversations;

public sealed class RunState
{
    public string RunId { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>Model responses recorded in this run (for the step limit).</summary>
    public int ModelSteps { get; set; }

    /// <summary>A message that got deltas and has not completed.</summary>
    public OpenMessage? OpenMessage { get; set; }

    /// <summary>Tool calls without a result, in the order the model made them.</summary>
    public List<PendingCall> PendingCalls { get; set; } = [];

    /// <summary>User messages sent during the current step; they join the history when it is closed.</summary>
    public List<HistoryItem> Deferred { get; set; } = [];

    /// <summary>Whether the last event was a response's text, whose tool calls may follow.</summary>
    public bool AwaitingCalls { get; set; }

    /// <summary>
    /// Tokens of this run's model calls so far, summed from the usage each call recorded in the log (restarts and
    /// retries included).
    /// </summary>
    public TokenUsage? Usage { get; set; }

    [JsonIgnore]
    public bool IsWaiting => PendingCalls.Count > 0 && PendingCalls[0] is { RequestId: not null, Answered: false };
}

public sealed class OpenMessage
{
    // Appended to per delta: a string grown with += would copy the message once per delta.
    private readonly StringBuilder _text = new();

    public string MessageId { get; set; } = "";

    /// <summary>The text streamed so far (in snapshots).</summary>
    public string Text
    {
        get => _text.ToString();
        set => _text.Clear().Append(value);
    }

    public void Append(string text) => _text.Append(text);
}

public sealed class PendingCall
{
    public string CallId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Arguments { get; set; } = "{}";
    public string? RequestId { get; set; }
    public string? RequestKind { get; set; }
    public bool Answered { get; set; }
    public bool? Approved { get; set; }
    public string? AnswerText { get; set; }

    /// <summary>For <c>start_subagents</c>: the children started, in task order, and how those that ended ended.</summary>
    public List<Subagent> Subagents { get; set; } = [];
}

public sealed class Subagent
{
    public string ChildId { get; set; } = "";
    public string Title { get; set; } = "";
    public RunOutcome? Outcome { get; set; }
    public string? Text { get; set; }
    public ErrorInfo? Error { get; set; }
}
