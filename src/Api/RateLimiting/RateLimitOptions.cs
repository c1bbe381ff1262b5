using System.ComponentModel.DataAnnotations;

namespace Agents.Api.RateLimiting;

/// <summary>
/// Per-user rate limits of the gateway, bound from <c>RateLimits</c>: token buckets, so a user may send a burst and
/// then keeps a steady pace. Shared by the hub and the HTTP API of this gateway.
/// </summary>
public sealed class RateLimitOptions
{
    public const string SectionName = "RateLimits";

    /// <summary>Messages and answers (<c>SendMessage</c>, <c>Respond</c>) one user may send per minute, steadily.</summary>
    [Range(1, 1_000_000)]
    public int SendsPerMinute { get; set; } = 60;

    /// <summary>How many sends a user may make at once before the pace applies.</summary>
    [Range(1, 1_000_000)]
    public int SendBurst { get; set; } = 20;

    /// <summary>Conversations (<c>CreateConversation</c>) one user may create per minute, steadily.</summary>
    [Range(1, 1_000_000)]
    public int ConversationsPerMinute { get; set; } = 10;

    /// <summary>How many conversations a user may create at once before the pace applies.</summary>
    [Range(1, 1_000_000)]
    public int ConversationBurst { get; set; } = 10;
}
