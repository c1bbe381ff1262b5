using System.Diagnostics.Metrics;

namespace Agents.Silo.Observability;

/// <summary>
/// Memory figures the runtime's own metrics lack. <c>dotnet.gc.last_collection.heap.size</c> is measured after
/// whatever collection came last, usually a young one that leaves older garbage in place, so it saws up and down with
/// the garbage of minutes; what a leak hunt (or the soak) needs is what stays alive, measured after a full collection.
/// </summary>
public static class ProcessTelemetry
{
    public const string Name = "Agents.Process";

    private static readonly Meter Meter = new(Name);

    public static readonly ObservableGauge<long> LiveHeap = Meter.CreateObservableGauge(
        "agents.process.heap.live", LiveHeapAfterFullCollection, "By",
        "Managed heap in use right after the last full (gen2) collection, without its free fragments; 0 before the first.");

    private static long LiveHeapAfterFullCollection()
    {
        var blocking = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        var background = GC.GetGCMemoryInfo(GCKind.Background);
        var last = blocking.Index >= background.Index ? blocking : background;
        if (last.Index == 0)
        {
            return 0;
        }

        long live = 0;
        foreach (var generation in last.GenerationInfo)
        {
            live += generation.SizeAfterBytes - generation.FragmentationAfterBytes;
        }

        return live;
    }
}
