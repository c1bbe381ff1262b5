using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

internal sealed partial class ToolRunner
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId}: tool {Tool} failed")]
    private partial void LogToolFailed(Exception exception, string conversationId, string tool);
}
