using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

internal sealed partial class ModelStep
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: model call attempt {Attempt} failed; retrying in {Delay}")]
    private partial void LogModelRetry(Exception exception, string conversationId, int attempt, TimeSpan delay);
}
