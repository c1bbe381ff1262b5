using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

internal sealed partial class AgentLoop
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId} resumes run {RunId}")]
    private partial void LogResuming(string conversationId, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: run {RunId} failed")]
    private partial void LogRunFailed(Exception exception, string conversationId, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: the loop stopped")]
    private partial void LogLoopStopped(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: run {RunId} reached the limit of {MaxEvents} events and ends")]
    private partial void LogLogFull(string conversationId, string runId, int maxEvents);
}
