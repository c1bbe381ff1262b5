namespace Agents.Api.Hubs;

/// <summary>What the hub calls on its clients (everything else reaches them through <c>Watch</c>).</summary>
public interface IAgentClient
{
    /// <summary>
    /// One of the user's connections to this gateway created a conversation (over the hub or HTTP), so that
    /// the user's other tabs can list it without polling.
    /// </summary>
    Task ConversationCreated(ConversationInfo conversation);
}
