using Agents.Api.Hosting;
using Orleans.Runtime.Messaging;

namespace Agents.Api.Tests;

/// <summary>Which failures reach a client as <c>unavailable</c> rather than a 500 (SiloDeathTests shows them under load).</summary>
public sealed class TransportFailuresTests
{
    [Fact]
    public void ACancellationTheRequestDidNotAskFor_IsTransient_OneItAskedForIsNot()
    {
        using var aborted = new CancellationTokenSource();
        aborted.Cancel();
        // Orleans cancels a placement whose directory partition went with a dying silo.
        Assert.True(TransportFailures.IsTransient(new OperationCanceledException(), CancellationToken.None));
        Assert.False(TransportFailures.IsTransient(new OperationCanceledException(aborted.Token), aborted.Token));
    }

    [Fact]
    public void AFailedConnection_IsTransient_EvenWrapped_ARefusalIsNot()
    {
        var failed = new ConnectionFailedException("silo gone");
        Assert.True(TransportFailures.IsTransient(failed, CancellationToken.None));
        Assert.True(TransportFailures.IsTransient(new AggregateException(new InvalidOperationException("x"), failed), CancellationToken.None));
        Assert.True(TransportFailures.IsTransient(new InvalidOperationException("outer", new TimeoutException()), CancellationToken.None));
        Assert.False(TransportFailures.IsTransient(ConversationException.Conflict("asked twice"), CancellationToken.None));
        Assert.False(TransportFailures.IsTransient(new InvalidOperationException("a bug"), CancellationToken.None));
    }
}
