using System.ComponentModel.DataAnnotations;

namespace Agents.Silo;

/// <summary>How this process joins Orleans; bound from <c>Orleans</c>.</summary>
public sealed class OrleansHostOptions
{
    public const string SectionName = "Orleans";

    /// <summary><see cref="OrleansMode.Single"/>: one process, localhost clustering; <see cref="OrleansMode.Cluster"/>: silos and gateways through the database.</summary>
    public OrleansMode Mode { get; set; } = OrleansMode.Single;

    [Required]
    public string ClusterId { get; set; } = "agents";

    [Required]
    public string ServiceId { get; set; } = "agents";

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// The address other silos and gateways reach this silo at (cluster mode). Loopback when unset, which suits a
    /// cluster on one machine; in Kubernetes the pod IP is taken from the environment instead.
    /// </summary>
    public string? AdvertisedIPAddress { get; set; }

    /// <summary>
    /// <see cref="FailureDetection.Fast"/> (default): a dead silo is declared dead in about 3 s;
    /// <see cref="FailureDetection.Default"/>: Orleans' own settings (10–20 s), for noisy hosts. See deploy/README.md.
    /// </summary>
    public FailureDetection FailureDetection { get; set; } = FailureDetection.Fast;

    /// <summary>Running as a Kubernetes pod (deploy/k8s): take addresses and ids from the pod's environment.</summary>
    public bool Kubernetes { get; set; }

    /// <summary>
    /// How often running conversations are woken, as at start and, in a cluster, when a silo dies: a run whose
    /// activation stopped (its database was down longer than the commit retries) continues without waiting for a
    /// client. In a cluster one silo does it, the oldest active one. Null: every 30 s.
    /// </summary>
    public TimeSpan? ResumeSweepPeriod { get; set; }

    /// <summary>
    /// Cluster mode: when set, each running conversation also keeps an Orleans reminder with this period, a second
    /// way back after a silo dies. Off by default: it costs PostgreSQL writes on every run, and the wake on a silo's
    /// death (<see cref="ResumeUnfinishedRuns"/>) comes sooner. Reminders left from a version that kept them are
    /// dropped at their next tick.
    /// </summary>
    public TimeSpan? ResumeReminderPeriod { get; set; }

    /// <summary>
    /// How long a conversation stream's pulling agent rests between reads of its queue once a read has ended: after a
    /// <see cref="StreamQueueWait"/> with nothing, or a pause Orleans makes while a new stream registers. Orleans'
    /// default (100 ms) would be added to some events' trip to a watcher.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan StreamPollPeriod { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// How long a read of a conversation-stream queue that stayed empty since the last read waits for an event before
    /// it answers empty (a long poll, see Streaming/WaitingStreamQueueGrain.cs). Longer: fewer idle calls, and a
    /// silo's shutdown may wait as long for its readers. Zero: answer at once and poll every
    /// <see cref="StreamPollPeriod"/>, Orleans' way, which cost an idle node 11 % of a core at 5 ms (bench I1,
    /// docs/benchmarks.md). Stays well under the 30 s grain call timeout.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan StreamQueueWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long delivered stream messages stay in the pulling agents' cache. Orleans keeps them up to 30 minutes (for
    /// rewinding consumers, which we never do: a watcher that missed something reads the store), so under steady load
    /// the cache alone grew the heap by ~45 MB a minute in the soak.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan StreamCacheAge { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a pulling agent remembers a conversation stream that carries no events (its subscribers, and on a
    /// single node the stream's pub-sub entry, see SingleNodePubSubStore). Orleans remembers one for 30 minutes, which
    /// under load is a lot of conversations; the cost of forgetting is one pub-sub call on the stream's next event.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan StreamInactivityPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a conversation nobody calls stays activated (holding its state and chat history in memory) before
    /// Orleans collects it; a running conversation keeps itself alive. Orleans' minimum is one minute.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan IdleCollectionAge { get; set; } = TimeSpan.FromMinutes(15);
}

public enum FailureDetection
{
    Fast,
    Default,
}

public enum OrleansMode
{
    Single,
    Cluster,
}
