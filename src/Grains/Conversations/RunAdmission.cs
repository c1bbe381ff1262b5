using Agents.Grains.Storage;

namespace Agents.Grains.Conversations;

/// <summary>Whether a user may start one more run.</summary>
internal static class RunAdmission
{
    /// <summary>
    /// Refuses a new run when the user already has <paramref name="maxRunning"/> conversations running or waiting.
    /// Counted in the store, the one place every silo and gateway shares: the count holds across a cluster and
    /// restarts, and a run frees its slot in the very commit of its terminal event. Two starts of one user in the same
    /// instant may both pass (the count is not a lock); the rate limits bound how many such starts can race.
    /// </summary>
    public static async Task RequireSlotAsync(IEventStore store, string userId, string conversationId, int maxRunning)
    {
        var running = await store.CountActiveAsync(userId, conversationId);
        if (running >= maxRunning)
        {
            throw ConversationException.RateLimited(
                $"{running} of your conversations are running or waiting for you, and the limit is {maxRunning}; " +
                "let one finish (answer or cancel it) and try again");
        }
    }
}
