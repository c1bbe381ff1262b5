using System.Collections.Concurrent;
using Agents.Grains.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Silo;

/// <summary>
/// Wakes every conversation whose run needs its loop and may have lost it, so no run waits for a client to come back:
/// on start; every <see cref="OrleansHostOptions.ResumeSweepPeriod"/> (a run whose activation stopped because its
/// database was down longer than the commit retries); and in a cluster, at once when a silo dies, since its runs died
/// with it. In a cluster only one silo sweeps after the start, the oldest active one, and a death is seen by every
/// survivor at the same moment, so whichever is oldest then takes it up. Waking a conversation whose loop runs
/// changes nothing. Why not a reminder per running conversation (what this replaced): it cost two or three PostgreSQL
/// round trips through the reminder service on every run, and a reminder tick up to its period after the death.
/// </summary>
internal sealed partial class ResumeUnfinishedRuns(
    IEventStore store,
    IGrainFactory grains,
    IClusterMembershipService membership,
    ILocalSiloDetails local,
    IHostApplicationLifetime lifetime,
    IOptions<OrleansHostOptions> options,
    ILogger<ResumeUnfinishedRuns> logger)
    : IStartupTask
{
    // A wake that fails right after a death (calls still routed to the dead silo) is tried again soon, not a period later.
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);
    private const int Retries = 10;

    private readonly SemaphoreSlim _siloDied = new(0);

    public Task Execute(CancellationToken cancellationToken)
    {
        var stopping = lifetime.ApplicationStopping;
        _ = Task.Run(() => SweepAsync(stopping), CancellationToken.None);
        if (options.Value.Mode == OrleansMode.Cluster)
        {
            _ = Task.Run(() => WatchMembershipAsync(stopping), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task SweepAsync(CancellationToken stopping)
    {
        var period = options.Value.ResumeSweepPeriod ?? TimeSpan.FromSeconds(30);
        try
        {
            var woken = await WakeAllAsync(stopping);
            LogWoken(woken);
            while (true)
            {
                var afterDeath = await _siloDied.WaitAsync(period, stopping);
                if (IsSweeper())
                {
                    await WakeAllAsync(stopping, retry: afterDeath);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task WatchMembershipAsync(CancellationToken stopping)
    {
        HashSet<SiloAddress>? dead = null;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
                {
                    var now = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToHashSet();
                    // The first snapshot holds the deaths from before this silo started, which the start's sweep covered.
                    if (dead is not null && now.Except(dead).Any())
                    {
                        _siloDied.Release();
                    }

                    dead = now;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // Watched again: without it a death would wait for the next periodic sweep.
                LogMembershipWatchFailed(ex);
                await Task.Delay(RetryAfter, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private bool IsSweeper()
    {
        if (options.Value.Mode == OrleansMode.Single)
        {
            return true;
        }

        var oldest = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).Min();
        return oldest is not null && oldest.Equals(local.SiloAddress);
    }

    /// <summary>Wakes the running conversations; with <paramref name="retry"/>, tries the failed ones again a while.</summary>
    private async Task<int> WakeAllAsync(CancellationToken stopping, bool retry = false)
    {
        IReadOnlyList<string> ids;
        try
        {
            ids = await store.ListRunningAsync(stopping);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The database may be down: the next sweep tries again.
            LogWakeFailed(ex, "*");
            return 0;
        }

        var left = ids;
        for (var attempt = 0; left.Count > 0; attempt++)
        {
            var last = !retry || attempt == Retries;
            var failed = new ConcurrentBag<string>();
            await Parallel.ForEachAsync(left, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = stopping }, async (id, ct) =>
            {
                try
                {
                    await grains.GetGrain<IConversationGrain>(id).WakeAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failed.Add(id);
                    if (last)
                    {
                        LogWakeFailed(ex, id);
                    }
                }
            });
            if (last)
            {
                break;
            }

            left = [.. failed];
            if (left.Count > 0)
            {
                await Task.Delay(RetryAfter, stopping);
            }
        }

        return ids.Count;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watching cluster membership failed; watching again")]
    private partial void LogMembershipWatchFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Woke {Count} conversations with unfinished runs")]
    private partial void LogWoken(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not wake conversation {ConversationId}")]
    private partial void LogWakeFailed(Exception exception, string conversationId);
}
