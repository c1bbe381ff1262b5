namespace Agents;

/// <summary>
/// Names shared by the silo, the gateway and the tests: Orleans providers, stream namespaces and storage.
/// </summary>
public static class AgentNames
{
    /// <summary>The Orleans stream provider that carries conversation events.</summary>
    public const string StreamProvider = "conversations";

    /// <summary>
    /// The stream namespace; the stream key is the conversation id. Each item is a batch of durable events in seq
    /// order; an empty batch means the conversation was deleted, and nothing follows it.
    /// </summary>
    public const string ConversationStreamNamespace = "conversation";

    /// <summary>The grain storage Orleans' stream pub-sub keeps its subscriptions in.</summary>
    public const string PubSubStore = "PubSubStore";

    /// <summary>The name of the connection string of the agents database.</summary>
    public const string ConnectionStringName = "Agents";
}
