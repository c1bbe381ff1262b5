using System.Text.Json.Serialization;

namespace Agents;

/// <summary>What a conversation is doing.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConversationStatus>))]
public enum ConversationStatus
{
    /// <summary>No run is active.</summary>
    [JsonStringEnumMemberName("idle")]
    Idle,

    /// <summary>A run is active.</summary>
    [JsonStringEnumMemberName("running")]
    Running,

    /// <summary>A run is active and waits for the user's answer to an <c>input.requested</c>.</summary>
    [JsonStringEnumMemberName("waiting")]
    Waiting,
}

/// <summary>How a run ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunOutcome>))]
public enum RunOutcome
{
    /// <summary>The agent answered.</summary>
    [JsonStringEnumMemberName("completed")]
    Completed,

    /// <summary>The run failed; <c>run.failed</c> says why.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,

    /// <summary>The user cancelled the run.</summary>
    [JsonStringEnumMemberName("cancelled")]
    Cancelled,
}

/// <summary>A conversation as the contract shows it.</summary>
/// <param name="Id">The conversation id.</param>
/// <param name="Title">Its title.</param>
/// <param name="Status">What it is doing.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When its last event was appended.</param>
/// <param name="LastSeq">The seq of its last durable event; 0 when it has none.</param>
/// <param name="LastRunOutcome">How its last finished run ended; null before any.</param>
/// <param name="ParentId">The conversation whose sub-agent this one is; null at the top.</param>
/// <param name="ForkedFrom">The conversation and seq this one was forked from; null when it was not.</param>
[GenerateSerializer, Immutable, Alias("agents.ConversationInfo")]
public sealed record ConversationInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string Title,
    [property: Id(2)] ConversationStatus Status,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset UpdatedAt,
    [property: Id(5)] long LastSeq,
    [property: Id(6), JsonIgnore(Condition = JsonIgnoreCondition.Never)] RunOutcome? LastRunOutcome,
    [property: Id(7), JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? ParentId = null,
    [property: Id(8), JsonIgnore(Condition = JsonIgnoreCondition.Never)] ForkOrigin? ForkedFrom = null);

/// <summary>Where a fork came from: its log starts with copies of that conversation's events 1..<paramref name="AfterSeq"/>.</summary>
[GenerateSerializer, Immutable, Alias("agents.ForkOrigin")]
public sealed record ForkOrigin(
    [property: Id(0)] string ConversationId,
    [property: Id(1)] long AfterSeq);

/// <summary>A page of a conversation's log.</summary>
/// <param name="Events">Events in ascending seq.</param>
/// <param name="LastSeq">The conversation's last durable seq, so a reader knows whether to page on.</param>
[GenerateSerializer, Immutable, Alias("agents.EventPage")]
public sealed record EventPage(
    [property: Id(0)] IReadOnlyList<Events.EventEnvelope> Events,
    [property: Id(1)] long LastSeq);

/// <summary>A user's token spend on the current UTC day (<c>GET /api/usage</c>).</summary>
/// <param name="Today">Input and output tokens the user's model calls spent today.</param>
/// <param name="Limit">The daily budget (<c>Agent:MaxTokensPerUserPerDay</c>); null when there is none.</param>
/// <param name="ResetsAt">When the day ends and the budget starts again (midnight UTC).</param>
[GenerateSerializer, Immutable, Alias("agents.UserUsage")]
public sealed record UserUsage(
    [property: Id(0)] Events.TokenUsage Today,
    [property: Id(1), JsonIgnore(Condition = JsonIgnoreCondition.Never)] long? Limit,
    [property: Id(2)] DateTimeOffset ResetsAt);
