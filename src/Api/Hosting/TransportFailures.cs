using Orleans.Networking.Shared;
using Orleans.Runtime.Messaging;

namespace Agents.Api.Hosting;

/// <summary>
/// Failures of another process rather than of the request: a silo that died or is shutting down, a gateway connection
/// that broke or could not be made, a message the cluster rejected, a call that timed out, a silo too busy. The same
/// request may well succeed a moment later (on another silo), so the client is told the contract's
/// <c>unavailable</c> (503 with <c>Retry-After</c>, <c>unavailable:</c> from the hub), never a 500.
/// </summary>
public static class TransportFailures
{
    /// <summary>What a 503 tells a client to wait: a silo's death is noticed and routed around within seconds.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>
    /// Whether <paramref name="exception"/> is such a failure, for a request that <paramref name="requestAborted"/>
    /// ends: a cancellation the request did not ask for is Orleans giving up on a call whose placement or directory
    /// lookup went with a dying silo, as transient as the death itself.
    /// </summary>
    public static bool IsTransient(Exception exception, CancellationToken requestAborted) =>
        exception is OperationCanceledException ? !requestAborted.IsCancellationRequested : IsTransient(exception);

    private static bool IsTransient(Exception exception) => exception switch
    {
        ConversationException => false,
        ConnectionFailedException or SocketConnectionException or OrleansMessageRejectionException or GatewayTooBusyException
            or TimeoutException or EnumerationAbortedException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsTransient),
        _ => exception.InnerException is { } inner && IsTransient(inner),
    };

    /// <summary>The contract's refusal for a transient failure, naming its kind but none of its addresses.</summary>
    public static ConversationException Unavailable(Exception exception) =>
        ConversationException.Unavailable($"the cluster could not serve the request ({exception.GetType().Name}); retry shortly");
}
