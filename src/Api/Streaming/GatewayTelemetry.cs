using System.Diagnostics.Metrics;
using Agents.Silo.Observability;

namespace Agents.Api.Streaming;

/// <summary>The gateway's metrics: who is watching, and how much each watch had to catch up on.</summary>
public static class GatewayTelemetry
{
    private static readonly Meter Meter = new(ObservabilityExtensions.GatewayMeterName);

    public static readonly UpDownCounter<long> Watchers =
        Meter.CreateUpDownCounter<long>("agents.gateway.watchers", "{watcher}", "Watchers connected to this gateway (hub streams and SSE).");

    public static readonly Histogram<long> EventsReplayed =
        Meter.CreateHistogram<long>("agents.gateway.replay.events", "{event}", "Stored events replayed to a watch before it went live.");
}
