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

    /// <summary>
    /// The longest a grain call from this gateway waits for its answer (the Orleans client's response timeout, in a
    /// cluster): a call to a silo that died without closing its connections fails after this, as <c>unavailable</c>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many times a call that is safe to repeat is tried before the client is told <c>unavailable</c>.</summary>
    [Range(1, 20)]
    public int CallAttempts { get; set; } = 4;

    /// <summary>How long retries of one call may go on (the waits between attempts, not the attempts themselves).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RetryBudget { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How often the gateway reads the cluster's live silos (in a cluster): a dead silo's endpoint is dropped by the
    /// next read at the latest (Orleans' default is a minute).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(2);
}
