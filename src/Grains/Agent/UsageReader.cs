using Agents.Events;

namespace Agents.Grains.Agent;

/// <summary>Reads token usage from a streamed chunk's metadata, whichever connector produced it.</summary>
internal static class UsageReader
{
    public static TokenUsage? Read(IReadOnlyDictionary<string, object?>? metadata)
    {
        if (metadata is null || !metadata.TryGetValue(DemoChatCompletionService.UsageMetadataKey, out var usage))
        {
            return null;
        }

        return usage switch
        {
            TokenUsage ours => ours,
            OpenAI.Chat.ChatTokenUsage openAi => new TokenUsage(openAi.InputTokenCount, openAi.OutputTokenCount),
            _ => null,
        };
    }
}
