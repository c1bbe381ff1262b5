using System.Diagnostics;
using Agents.Api.Hosting;
using Agents.Api.Streaming;
using Microsoft.Extensions.Options;

namespace Agents.Api.Conversations;

/// <summary>
/// The gateway's grain calls, each either retried or made once. A call that is safe to repeat (a read, an answer the
/// grain recognizes as a repeat, a cancel) is tried again after a transient failure, briefly and with jitter, so a
/// silo's death usually reaches the client as nothing but a short delay: by the next attempt the Orleans client has
/// dropped the dead silo's gateway and the grain is activated elsewhere. A call that is not safe is made once. Either
/// way a transient failure that remains is <c>unavailable</c>.
/// </summary>
public sealed partial class GrainCalls(IOptions<GatewayOptions> options, TimeProvider time, ILogger<GrainCalls> logger)
{
    private static readonly Backoff Backoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));

    /// <summary>
    /// Runs <paramref name="call"/> until it succeeds, fails for a reason of its own, or has failed transiently
    /// <see cref="GatewayOptions.CallAttempts"/> times or for longer than <see cref="GatewayOptions.RetryBudget"/>. The
    /// call is told whether it is a repeat, for calls whose repeat must read what the first did.
    /// </summary>
    public async Task<T> RetriedAsync<T>(string operation, Func<bool, Task<T>> call, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(attempt > 1);
            }
            catch (Exception ex) when (TransportFailures.IsTransient(ex, cancellationToken))
            {
                var delay = Backoff.DelayAfter(attempt);
                if (attempt >= options.Value.CallAttempts || time.GetElapsedTime(started) + delay > options.Value.RetryBudget
                    || cancellationToken.IsCancellationRequested)
                {
                    LogGaveUp(logger, operation, attempt, ex);
                    throw TransportFailures.Unavailable(ex);
                }

                LogRetrying(logger, operation, attempt, ex.GetType().Name, delay.TotalMilliseconds);
                await Task.Delay(delay, time, cancellationToken);
            }
        }
    }

    /// <inheritdoc cref="RetriedAsync{T}(string, Func{bool, Task{T}}, CancellationToken)"/>
    public Task RetriedAsync(string operation, Func<bool, Task> call, CancellationToken cancellationToken) =>
        RetriedAsync(operation, async repeat =>
        {
            await call(repeat);
            return true;
        }, cancellationToken);

    /// <summary>Runs a call that is not safe to repeat once; a transient failure is <c>unavailable</c>.</summary>
    public static async Task<T> OnceAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (TransportFailures.IsTransient(ex, cancellationToken))
        {
            throw TransportFailures.Unavailable(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Operation}: attempt {Attempt} failed with {Failure}; trying again in {DelayMs:0} ms")]
    private static partial void LogRetrying(ILogger logger, string operation, int attempt, string failure, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Operation}: unavailable after {Attempts} attempts")]
    private static partial void LogGaveUp(ILogger logger, string operation, int attempts, Exception exception);
}
