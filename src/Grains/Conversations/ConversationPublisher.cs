using Agents.Events;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace Agents.Grains.Conversations;

/// <summary>
/// Puts a conversation's durable batches on its Orleans stream, retrying a failed publish a few times. Only
/// <see cref="ConversationLog"/> calls it, and only with events that are stored.
/// </summary>
internal sealed partial class ConversationPublisher(
    string conversationId,
    IAsyncStream<EventEnvelope[]> stream,
    IReadOnlyList<IStreamPublishListener> listeners,
    TimeProvider time,
    ILogger logger)
{
    private const int MaxAttempts = 4;
    private static readonly Backoff Retry = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));

    /// <summary>Publishes a durable batch; an empty one tells watchers the conversation was deleted.</summary>
    public async Task PublishAsync(EventEnvelope[] events)
    {
        var (first, last) = events.Length > 0 ? (events[0].Seq, events[^1].Seq) : (0L, 0L);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                foreach (var listener in listeners)
                {
                    listener.Publishing(stream.StreamId);
                }

                await stream.OnNextAsync(events);
                return;
            }
            catch (Exception ex) when (attempt < MaxAttempts)
            {
                LogPublishRetry(ex, conversationId, first, attempt);
                await Retry.WaitAsync(attempt, time);
            }
            catch (Exception ex)
            {
                // Stored, so not lost: watchers see the seq jump and read the gap from the store.
                LogPublishFailed(ex, conversationId, first, last);
                return;
            }
        }
    }
}
