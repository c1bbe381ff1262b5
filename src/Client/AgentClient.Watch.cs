using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Agents.Events;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace Agents.Client;

/// <summary>The watch: every event once and in order, across reconnects and failovers.</summary>
public sealed partial class AgentClient
{
    /// <summary>
    /// Every event of the conversation after <paramref name="afterSeq"/>, in order and once each, then live events,
    /// until the caller stops enumerating. A dropped connection, a gateway's failover or an <c>unavailable</c> cluster
    /// is ridden through: the watch is opened again from the last seq it yielded, duplicates are dropped, and a gap
    /// (never sent by the service, but a client cannot know) is filled by watching again from before it. It gives up
    /// with <see cref="AgentUnavailableException"/> after <see cref="AgentClientOptions.WatchGiveUpAfter"/> without
    /// success; refusals (<c>not_found</c>, <c>invalid_argument</c>) end it at once.
    /// </summary>
    public async IAsyncEnumerable<EventEnvelope> WatchAsync(string conversationId, long afterSeq = 0, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var last = afterSeq;
        var failingSince = (long?)null;
        for (var attempt = 1; ; attempt++)
        {
            ChannelReader<EventEnvelope[]>? batches = null;
            Exception? failure = null;
            try
            {
                // Waiting for the connection counts against the watch's patience too.
                using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var left = _options.WatchGiveUpAfter - (failingSince is { } since ? _time.GetElapsedTime(since) : TimeSpan.Zero);
                patience.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
                await StartAsync(patience.Token);
                // Batches: the same events as Watch, a replay in a few messages rather than one per event.
                batches = await _hub.StreamAsChannelAsync<EventEnvelope[]>("WatchBatches", conversationId, last, cancellationToken);
            }
            catch (Exception ex) when ((Transient(ex) || ex is OperationCanceledException) && !cancellationToken.IsCancellationRequested)
            {
                failure = ex;
            }

            while (batches is not null && failure is null)
            {
                EventEnvelope[]? batch = null;
                try
                {
                    if (!await batches.WaitToReadAsync(cancellationToken))
                    {
                        // The service ended the watch without an error: the connection went; watch again.
                        failure = new AgentUnavailableException("the watch ended with its connection");
                        break;
                    }

                    batches.TryRead(out batch);
                }
                catch (HubException ex) when (AgentException.FromHub(ex) is { } refusal and not AgentUnavailableException)
                {
                    // not_found (the conversation is gone, or never was the user's), invalid_argument: watching again cannot help.
                    throw refusal;
                }
                catch (Exception ex) when (Transient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    failure = ex;
                    break;
                }

                foreach (var next in batch ?? [])
                {
                    if (next.Seq <= last)
                    {
                        continue;
                    }

                    if (next.Seq != last + 1)
                    {
                        LogGap(_logger, conversationId, last, next.Seq);
                        failure = new AgentUnavailableException($"seq {next.Seq} came after {last}");
                        break;
                    }

                    last = next.Seq;
                    failingSince = null;
                    attempt = 1;
                    yield return next;
                }
            }

            failingSince ??= _time.GetTimestamp();
            if (_time.GetElapsedTime(failingSince.Value) > _options.WatchGiveUpAfter)
            {
                throw new AgentUnavailableException(
                    $"could not watch conversation {conversationId} after seq {last} for {_options.WatchGiveUpAfter}", failure);
            }

            LogRewatch(_logger, conversationId, last, failure?.GetType().Name ?? "end");
            await Backoff.WaitAsync(attempt, _time, cancellationToken);
        }
    }

    [LoggerMessage(EventId = 2, EventName = "WatchResumed", Level = LogLevel.Information, Message = "Watch of {ConversationId}: watching again after seq {LastSeq} ({Failure})")]
    private static partial void LogRewatch(ILogger logger, string conversationId, long lastSeq, string failure);

    [LoggerMessage(EventId = 3, EventName = "WatchGap", Level = LogLevel.Warning, Message = "Watch of {ConversationId}: seq {Seq} came after {LastSeq}; filling the gap")]
    private static partial void LogGap(ILogger logger, string conversationId, long lastSeq, long seq);
}
