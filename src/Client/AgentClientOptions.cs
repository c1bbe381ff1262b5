using System.ComponentModel.DataAnnotations;

namespace Agents.Client;

/// <summary>Where the service is and how the client behaves; bound from configuration by <c>AddAgentClient</c>.</summary>
public sealed class AgentClientOptions
{
    /// <summary>The configuration section <c>AddAgentClient</c> binds by default.</summary>
    public const string SectionName = "AgentClient";

    /// <summary>The gateway's base address, such as <c>https://agents.example.com/</c>; the hub is <c>/hubs/agent</c> below it.</summary>
    [Required]
    public Uri? BaseAddress { get; set; }

    /// <summary>Gives the bearer token for each connection (a JWT whose <c>sub</c> is the user); null for none.</summary>
    public Func<CancellationToken, Task<string?>>? AccessTokenProvider { get; set; }

    /// <summary>
    /// How long a watch keeps trying to come back after its connection or the cluster failed before it gives up
    /// with <see cref="AgentUnavailableException"/>. Each success starts the count again.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan WatchGiveUpAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a call waits for the connection (it reconnects by itself) before it is <see cref="AgentUnavailableException"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a call that is safe to repeat is tried when the service is unavailable or the connection drops.</summary>
    [Range(1, 20)]
    public int CallAttempts { get; set; } = 5;
}
