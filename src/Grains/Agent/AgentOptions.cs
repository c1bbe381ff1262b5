using System.ComponentModel.DataAnnotations;

namespace Agents.Grains.Agent;

/// <summary>How the agent loop behaves; bound from <c>Agent</c>.</summary>
public sealed class AgentOptions
{
    public const string SectionName = "Agent";

    /// <summary>The most model calls one run may make before it fails with <c>max_steps</c>.</summary>
    [Range(1, 1_000)]
    public int MaxSteps { get; set; } = 24;

    /// <summary>The longest user message, in UTF-16 characters (the contract's <c>Agent:MaxMessageChars</c>).</summary>
    [Range(1, 10_000_000)]
    public int MaxMessageChars { get; set; } = 32_768;

    /// <summary>
    /// The most events one conversation's log may hold. Sends beyond it are <c>too_large</c>; a run that reaches
    /// it ends with <c>run.failed</c> <c>log_full</c>. Room for closing the active run is always kept below it.
    /// </summary>
    [Range(10, 1_000_000_000)]
    public int MaxEventsPerConversation { get; set; } = 100_000;

    /// <summary>
    /// How many of one user's conversations may have a run (running or waiting for the user) at once; starting
    /// one more is <c>rate_limited</c>. Messages to a conversation that is already running are not counted.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxRunningConversationsPerUser { get; set; } = 20;

    /// <summary>
    /// Tokens (input + output, as the model reports them) one run may spend, restarts and retries included; the run
    /// ends with <c>run.failed</c> <c>budget_exceeded</c> after the model call that reaches it. Unset: no limit.
    /// </summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long? MaxTokensPerRun { get; set; }

    /// <summary>
    /// Tokens one user's runs may spend per UTC day, counted in the store (so across a cluster and restarts). A
    /// send while the day is spent is <c>rate_limited</c>; a run that reaches it ends as <see cref="MaxTokensPerRun"/>
    /// says. Unset: no limit.
    /// </summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long? MaxTokensPerUserPerDay { get; set; }

    /// <summary>
    /// Tools (matched on the end of their name) that wait for the user's approval before they run; when not
    /// configured, <c>make_reservation</c>. Configure one empty entry (<c>Agent__RequireApproval__0=</c>) for none.
    /// </summary>
    /// <remarks>Null by default because the configuration binder appends to an array's initial items instead of replacing them.</remarks>
    public string[]? RequireApproval { get; set; }

    /// <summary>The tools that need approval, defaults applied.</summary>
    public IReadOnlyList<string> ApprovalTools => RequireApproval ?? ["make_reservation"];

    /// <summary>The system prompt of every model call.</summary>
    public string SystemPrompt { get; set; } =
        "You are a capable assistant that works for the user over many steps. Use the tools you are offered; " +
        "ask the user with ask_user when you need a decision only they can make. Be concise.";

    /// <summary>
    /// The longest streamed text waits before it is appended. Chunks merge into one delta only while the
    /// conversation's previous append is being written (never longer than this); zero appends every chunk as its
    /// own event.
    /// </summary>
    public TimeSpan DeltaFlushWindow { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>A snapshot of the conversation's state is stored every this many events.</summary>
    [Range(10, 1_000_000)]
    public int SnapshotEvery { get; set; } = 500;

    /// <summary>The most tasks one <c>start_subagents</c> call may start.</summary>
    [Range(1, 100)]
    public int MaxSubagentsPerCall { get; set; } = 8;

    /// <summary>How deep sub-agents may nest: a conversation at this depth gets <c>too_deep</c> when it starts more.</summary>
    [Range(0, 10)]
    public int MaxSubagentDepth { get; set; } = 2;

    /// <summary>
    /// How often a parent waiting for its sub-agents asks those still running how they stand. Each child also tells its
    /// parent when it ends; the poll covers a word lost to a crash.
    /// </summary>
    public TimeSpan SubagentPollPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one tool call may take before it fails with <c>timeout</c>.</summary>
    public TimeSpan ToolTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The period of the timer that keeps a running conversation's activation alive and its loop going.</summary>
    public TimeSpan KeepAlivePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When set (a cluster may, through <c>Orleans:ResumeReminderPeriod</c>), a running conversation keeps a reminder
    /// with this period: if its silo dies, the reminder wakes it on a survivor. Null by default: the silos' resume sweep
    /// wakes a dead silo's runs when its death is declared.
    /// </summary>
    public TimeSpan? ResumeReminderPeriod { get; set; }
}
