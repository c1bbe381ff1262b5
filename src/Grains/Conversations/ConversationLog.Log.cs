using Microsoft.Extensions.Logging;

namespace Agents.Grains.Conversations;

internal sealed partial class ConversationLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "Conversation {ConversationId}: an append failed; reloading from the log")]
    private partial void LogBroken(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: snapshot unreadable; replaying the whole log")]
    private partial void LogSnapshotUnreadable(Exception exception, string conversationId);
}
