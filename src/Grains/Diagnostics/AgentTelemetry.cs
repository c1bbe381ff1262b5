using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Agents.Grains.Diagnostics;

/// <summary>
/// The traces and metrics of conversations: one span per run (within an activation), one per model call and
/// per tool call; counters and histograms of runs, events, commits, model latency and tokens.
/// Names follow OpenTelemetry's conventions (<c>gen_ai.*</c> where they exist).
/// </summary>
public static partial class AgentTelemetry
{
    /// <summary>The name of the <see cref="ActivitySource"/> and <see cref="Meter"/>: register it with OpenTelemetry.</summary>
    public const string Name = "Agents.Conversations";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    public static readonly UpDownCounter<long> ActiveRuns =
        Meter.CreateUpDownCounter<long>("agents.runs.active", "{run}", "Runs whose loop is running on this silo.");

    public static readonly Counter<long> RunsStarted =
        Meter.CreateCounter<long>("agents.runs.started", "{run}", "Runs started.");

    public static readonly Counter<long> RunsEnded =
        Meter.CreateCounter<long>("agents.runs.ended", "{run}", "Runs ended, by outcome (completed, failed, cancelled).");

    public static readonly Counter<long> EventsAppended =
        Meter.CreateCounter<long>("agents.events.appended", "{event}", "Events appended to conversation logs.");

    public static readonly Histogram<int> CommitSize =
        Meter.CreateHistogram<int>("agents.log.commit.events", "{event}", "Events written per group commit.");

    public static readonly Histogram<double> CommitDuration =
        Meter.CreateHistogram<double>("agents.log.commit.duration", "s", "Time one group commit took.");

    public static readonly Histogram<double> ModelDuration =
        Meter.CreateHistogram<double>("gen_ai.client.operation.duration", "s", "Duration of a model call, streamed to its end.");

    public static readonly Histogram<double> TimeToFirstToken =
        Meter.CreateHistogram<double>("gen_ai.client.time_to_first_token", "s", "Time from a model call to its first streamed chunk.");

    public static readonly Counter<long> Tokens =
        Meter.CreateCounter<long>("gen_ai.client.token.usage", "{token}", "Tokens used, by direction (input, output).");

    public static readonly Histogram<double> ToolDuration =
        Meter.CreateHistogram<double>("agents.tool.duration", "s", "Duration of a tool call.");

    public static KeyValuePair<string, object?> Outcome(string outcome) => new("outcome", outcome);
}
