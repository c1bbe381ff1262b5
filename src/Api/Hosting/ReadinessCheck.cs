using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Agents.Api.Hosting;

/// <summary>Ready when a grain call that reads the store answers: Orleans is up (or reachable) and so is the database.</summary>
internal sealed class ReadinessCheck(IGrainFactory grains) : IHealthCheck
{
    public const string Tag = "ready";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await grains.GetGrain<IConversationDirectoryGrain>(0).ListAsync("readyz", 1, timeout.Token).WaitAsync(timeout.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("Orleans or the store does not answer.", ex);
        }
    }
}
