namespace Agents.Grains.Conversations;

/// <summary>Where a conversation's activation stands; only <see cref="Active"/> serves its owner.</summary>
internal enum ConversationLifecycle
{
    /// <summary>Nothing stored: it may be created.</summary>
    Absent,

    /// <summary>Stored and serving.</summary>
    Active,

    /// <summary>Its run is being cancelled before it is removed: callers are told not_found, the loop's closing events still go in.</summary>
    Deleting,

    /// <summary>Removed (or being removed) from the store: no append, not_found for everything.</summary>
    Deleted,

    /// <summary>A write failed for good: the activation refuses everything until the next one reloads the log.</summary>
    Broken,
}

/// <summary>What each kind of call needs of the lifecycle: refusals with the contract's codes.</summary>
internal static class ConversationLifecycleExtensions
{
    /// <summary>A create: nothing stored yet.</summary>
    public static void RequireAbsent(this ConversationLifecycle lifecycle, string conversationId, string userId)
    {
        lifecycle.ThrowIfGone(conversationId);
        ConversationRules.RequireUser(userId);
        if (lifecycle != ConversationLifecycle.Absent)
        {
            throw ConversationException.Conflict($"conversation {conversationId} already exists");
        }
    }

    /// <summary>Everything else: an active conversation of this user; anything else is not_found.</summary>
    public static void RequireOwner(this ConversationLifecycle lifecycle, string conversationId, string owner, string userId)
    {
        lifecycle.ThrowIfGone(conversationId);
        ConversationRules.RequireUser(userId);
        if (lifecycle != ConversationLifecycle.Active || !string.Equals(owner, userId, StringComparison.Ordinal))
        {
            throw ConversationException.NotFound($"conversation {conversationId} not found");
        }
    }

    /// <summary>Refuses every call once the conversation is deleted, and while it reloads after a storage failure.</summary>
    public static void ThrowIfGone(this ConversationLifecycle lifecycle, string conversationId)
    {
        switch (lifecycle)
        {
            case ConversationLifecycle.Deleted:
                throw ConversationException.NotFound($"conversation {conversationId} was deleted");
            case ConversationLifecycle.Broken:
                throw new InvalidOperationException($"Conversation {conversationId} is reloading after a storage failure; retry.");
        }
    }
}
