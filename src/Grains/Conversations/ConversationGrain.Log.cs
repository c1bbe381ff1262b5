using Microsoft.Extensions.Logging;

namespace Agents.Grains.Conversations;

internal sealed partial class ConversationGrain
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: the resume reminder could not be updated")]
    private partial void LogReminderFailed(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId} deleted")]
    private partial void LogDeleted(string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId} deactivating: {Reason}")]
    private partial void LogDeactivating(string conversationId, DeactivationReasonCode reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId}: its parent {ParentId} was not told of its end; the parent's poll finds it")]
    private partial void LogParentNotTold(Exception exception, string conversationId, string parentId);
}
