using Microsoft.Extensions.Logging;

namespace Agents.Grains.Conversations;

internal sealed partial class ConversationPublisher
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: publishing from seq {Seq} failed (attempt {Attempt})")]
    private partial void LogPublishRetry(Exception exception, string conversationId, long seq, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversation {ConversationId}: events {FirstSeq}-{LastSeq} are stored but could not be published")]
    private partial void LogPublishFailed(Exception exception, string conversationId, long firstSeq, long lastSeq);
}
