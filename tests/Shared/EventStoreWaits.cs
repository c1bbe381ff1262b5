using Agents.Events;
using Agents.Grains.Storage;

namespace Agents.Testing;

/// <summary>Reading and waiting on a conversation's stored log, as tests observe a run.</summary>
internal static class EventStoreWaits
{
    /// <summary>Every stored event of the conversation, read page by page.</summary>
    public static async Task<List<EventEnvelope>> ReadAllAsync(this IEventStore store, string conversationId)
    {
        var all = new List<EventEnvelope>();
        while (true)
        {
            var page = await store.ReadEventsAsync(conversationId, all.Count == 0 ? 0 : all[^1].Seq, 500);
            all.AddRange(page);
            if (page.Count < 500)
            {
                return all;
            }
        }
    }

    /// <summary>Waits until the stored log has an event matching <paramref name="predicate"/>; returns the log up to it.</summary>
    public static Task<List<EventEnvelope>> WaitForAsync(
        this IEventStore store, string conversationId, Func<EventEnvelope, bool> predicate, TimeSpan? timeout = null) =>
        TestEnvironment.EventuallyAsync(
            async () =>
            {
                var events = await store.ReadAllAsync(conversationId);
                var index = events.FindIndex(e => predicate(e));
                return index < 0 ? null : events[..(index + 1)];
            },
            timeout ?? TimeSpan.FromSeconds(30),
            $"an expected event in {conversationId}");

    /// <summary>Waits for the run's terminal event; returns the whole log.</summary>
    public static async Task<List<EventEnvelope>> WaitForEndAsync(this IEventStore store, string conversationId, TimeSpan? timeout = null)
    {
        await store.WaitForAsync(conversationId, e => EventTypes.IsTerminal(e.Type), timeout);
        return await store.ReadAllAsync(conversationId);
    }
}
