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

    // Seconds: OpenTelemetry's default buckets (0, 5, 10, 25, … 10000) suit milliseconds, and put every commit in
    // the first bucket, hiding stalls. Declared before the histograms, which read them as they are made.
    private static readonly double[] CommitBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] CallBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

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
        Meter.CreateHistogram("agents.log.commit.duration", "s", "Time one group commit took.", advice: Seconds(CommitBuckets));

    public static readonly Histogram<double> ModelDuration =
        Meter.CreateHistogram("gen_ai.client.operation.duration", "s", "Duration of a model call, streamed to its end.", advice: Seconds(CallBuckets));

    public static readonly Histogram<double> TimeToFirstToken =
        Meter.CreateHistogram("gen_ai.client.time_to_first_token", "s", "Time from a model call to its first streamed chunk.", advice: Seconds(CallBuckets));

    public static readonly Counter<long> Tokens =
        Meter.CreateCounter<long>("gen_ai.client.token.usage", "{token}", "Tokens used, by direction (input, output).");

    public static readonly Histogram<double> ToolDuration =
        Meter.CreateHistogram("agents.tool.duration", "s", "Duration of a tool call.", advice: Seconds(CallBuckets));

    public static KeyValuePair<string, object?> Outcome(string outcome) => new("outcome", outcome);

    private static InstrumentAdvice<double> Seconds(double[] boundaries) => new() { HistogramBucketBoundaries = boundaries };
}
