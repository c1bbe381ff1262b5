namespace Agents;

/// <summary>Page sizes the wire contract fixes; the gateway checks them and the grains rely on them.</summary>
public static class ContractLimits
{
    /// <summary>The most conversations one <c>ListConversations</c> answers with.</summary>
    public const int MaxListPage = 500;

    /// <summary>The most events one read of a conversation's log answers with.</summary>
    public const int MaxEventsPage = 1_000;

    /// <summary>Refuses a negative resume cursor.</summary>
    public static void RequireCursor(long afterSeq)
    {
        if (afterSeq < 0)
        {
            throw ConversationException.InvalidArgument("afterSeq must not be negative");
        }
    }

    /// <summary>Refuses a read of a log from a negative seq or of more than a page.</summary>
    public static void RequireEventsPage(long afterSeq, int limit)
    {
        RequireCursor(afterSeq);
        if (limit is < 1 or > MaxEventsPage)
        {
            throw ConversationException.InvalidArgument($"limit must be between 1 and {MaxEventsPage}");
        }
    }
}
