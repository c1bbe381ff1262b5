using System.ComponentModel.DataAnnotations;

namespace Agents.Api.Streaming;

/// <summary>How this gateway serves watchers; bound from <c>Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>
    /// How many undelivered stream messages (batches of events) one watcher may hold. A watcher whose client
    /// reads slower than the conversation writes fills it and is ended with <c>rate_limited</c>; it resumes
    /// with its last seq. The grain is never slowed by it.
    /// </summary>
    [Range(1, 1_000_000)]
    public int WatcherBuffer { get; set; } = 1_024;

    /// <summary>
    /// A watcher that got nothing for this long reads the store for events after its last seq, so a
    /// publish lost at the tail of a run (no later event shows the jump) is seen within this time.
    /// </summary>
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The same while the watcher's conversation has a run going (not waiting for the user): when a silo dies, its
    /// conversations resume elsewhere within seconds, but Orleans' stream can take longer to deliver again; the
    /// store shows the resumed run sooner. A streaming run is never quiet this long, so it costs no reads.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ActiveResyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest silence on an SSE response before a <c>: heartbeat</c> comment (the contract says at most 15 s).</summary>
    public TimeSpan SseHeartbeat { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest hub message accepted, so an oversized text gets <c>too_large</c> instead of a dropped connection.</summary>
    [Range(32 * 1024, 64 * 1024 * 1024)]
    public long MaxHubMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>How many conversations <c>ListConversations</c> returns at most (newest first).</summary>
    [Range(1, ContractLimits.MaxListPage)]
    public int ListLimit { get; set; } = 200;
}
