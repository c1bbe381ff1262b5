using Agents.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;

namespace Agents.Silo.Health;

public static class AgentHealthChecks
{
    /// <summary>Tag of the checks behind <c>/readyz</c>.</summary>
    public const string Ready = "ready";

    /// <summary>Readiness of a silo: it is an active member of its cluster, and its database takes writes.</summary>
    public static IHealthChecksBuilder AddSiloReadiness(this IHealthChecksBuilder builder) => builder
        .AddCheck<SiloActiveCheck>("silo", tags: [Ready])
        .AddCheck<DatabaseWritableCheck>("database", tags: [Ready]);

    private sealed class SiloActiveCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
            return Task.FromResult(status == SiloStatus.Active
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"The silo is {status}, not Active."));
        }
    }

    private sealed class DatabaseWritableCheck(IEventStore store, EventLogWriter writer) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            // The probe takes no space, so a full disk passes it; the writer knows when commits really fail.
            if (writer.FailingFor is { } failing)
            {
                return HealthCheckResult.Unhealthy($"Commits have been failing for {failing.TotalSeconds:0.0} s; the writer is retrying.");
            }

            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                // SQLite waits for a lock synchronously (up to its busy timeout, 30 s) and ignores the token: run it
                // aside and stop waiting at the deadline, so a locked database answers "unhealthy" in 5 s, not 30.
                await Task.Run(() => store.CheckWritableAsync(timeout.Token), timeout.Token).WaitAsync(timeout.Token);
                return HealthCheckResult.Healthy();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy("The database does not take writes.", ex);
            }
        }
    }
}
