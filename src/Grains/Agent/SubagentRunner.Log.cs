using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

internal sealed partial class SubagentRunner
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: sub-agent {ChildId} could not be cancelled")]
    private partial void LogChildCancelFailed(Exception exception, string conversationId, string childId);
}
