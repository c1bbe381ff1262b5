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
}

public enum OrleansMode
{
    Single,
    Cluster,
}
