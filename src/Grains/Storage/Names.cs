namespace Agents.Grains.Storage;

/// <summary>The stored names of statuses and outcomes: the contract's words.</summary>
internal static class Names
{
    public static string Of(ConversationStatus status) => status switch
    {
        ConversationStatus.Idle => "idle",
        ConversationStatus.Running => "running",
        ConversationStatus.Waiting => "waiting",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public static string? Of(RunOutcome? outcome) => outcome switch
    {
        null => null,
        RunOutcome.Completed => "completed",
        RunOutcome.Failed => "failed",
        RunOutcome.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    public static ConversationStatus ParseStatus(string status) => status switch
    {
        "idle" => ConversationStatus.Idle,
        "running" => ConversationStatus.Running,
        "waiting" => ConversationStatus.Waiting,
        _ => throw new InvalidOperationException($"Unknown stored status '{status}'."),
    };

    public static RunOutcome? ParseOutcome(string? outcome) => outcome switch
    {
        null => null,
        "completed" => RunOutcome.Completed,
        "failed" => RunOutcome.Failed,
        "cancelled" => RunOutcome.Cancelled,
        _ => throw new InvalidOperationException($"Unknown stored outcome '{outcome}'."),
    };
}
