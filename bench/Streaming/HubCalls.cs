using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Agents.Bench.Streaming;

/// <summary>The bench as a client should be: a call safe to repeat that is told <c>unavailable</c> is tried again.</summary>
internal static class HubCalls
{
    private static readonly Backoff Backoff = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2));

    public static async Task<T> InvokeRetryingAsync<T>(this HubConnection hub, string method, object?[] args, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await hub.InvokeCoreAsync<T>(method, args, cancellationToken);
            }
            catch (HubException ex) when (ex.Message.Contains($"{ErrorCodes.Unavailable}:", StringComparison.Ordinal) && attempt < 8)
            {
                await Backoff.WaitAsync(attempt, TimeProvider.System, cancellationToken);
            }
        }
    }
}
