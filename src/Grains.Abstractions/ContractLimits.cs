namespace Agents;

/// <summary>Page sizes the wire contract fixes; the gateway checks them and the grains rely on them.</summary>
public static class ContractLimits
{
    /// <summary>The most conversations one <c>ListConversations</c> answers with.</summary>
    public const int MaxListPage = 500;

    /// <summary>The most events one read of a conversation's log answers with.</summary>
    public const int MaxEventsPage = 1_000;
}
