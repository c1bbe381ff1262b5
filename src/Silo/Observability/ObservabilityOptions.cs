namespace Agents.Silo.Observability;

/// <summary>The <c>Observability</c> section: where traces, metrics and logs go, and the Orleans dashboard.</summary>
public sealed class ObservabilityOptions
{
    public const string SectionName = "Observability";

    /// <summary>Writes spans and metrics to the console too (for a look at a run on a workstation).</summary>
    public bool Console { get; set; }

    /// <summary>Serves Prometheus' text format on <c>/metrics</c> (default on).</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>
    /// Records spans. Unset: on when something exports them (an OTLP endpoint, or <see cref="Console"/>) and off
    /// otherwise, since spans that nobody exports still cost an activity, its tags and a lock on every hub message
    /// and grain call, stream traffic included. True records them for an exporter added in code (tests do).
    /// </summary>
    public bool? Tracing { get; set; }

    /// <summary>
    /// Also traces Orleans' own system calls (stream queues, directory, membership): off by default, as every
    /// published batch of events adds a pair of spans to the run's trace.
    /// </summary>
    public bool OrleansRuntimeSpans { get; set; }

    public OtlpOptions Otlp { get; set; } = new();

    public DashboardOptions Dashboard { get; set; } = new();

    public sealed class OtlpOptions
    {
        /// <summary>The collector's OTLP endpoint; <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> wins when both are set.</summary>
        public string? Endpoint { get; set; }
    }

    public sealed class DashboardOptions
    {
        /// <summary>Off by default: the dashboard adds a grain call filter that profiles every call.</summary>
        public bool Enabled { get; set; }

        /// <summary>Where the dashboard is served.</summary>
        public string Path { get; set; } = "/dashboard";
    }
}
