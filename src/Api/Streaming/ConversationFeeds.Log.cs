namespace Agents.Api.Streaming;

public sealed partial class ConversationFeeds
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "The feed of conversation {ConversationId} failed; its watchers resume")]
    private partial void LogFeedFaulted(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId} was deleted; its watchers end")]
    private partial void LogFeedDeleted(string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unsubscribing from conversation {ConversationId} failed")]
    internal partial void LogUnsubscribeFailed(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Subscribed to conversation {ConversationId}")]
    internal partial void LogSubscribed(string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Unsubscribed from conversation {ConversationId}")]
    internal partial void LogUnsubscribed(string conversationId);
}

