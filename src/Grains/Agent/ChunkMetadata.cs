using Agents.Events;

namespace Agents.Grains.Agent;

/// <summary>
/// What the loop reads from a streamed chunk's metadata, whichever chat service produced it: a status line to record
/// as <c>progress</c>, and the response's token usage.
/// </summary>
public static class ChunkMetadata
{
    /// <summary>A short status line (a <see cref="string"/>) the model service reports while it works.</summary>
    public const string Progress = "progress";

    /// <summary>The response's token usage: a <see cref="TokenUsage"/>, or OpenAI's under the key SK's connector uses.</summary>
    public const string Usage = "Usage";

    /// <summary>The status line in <paramref name="metadata"/>, if any.</summary>
    public static string? ProgressIn(IReadOnlyDictionary<string, object?>? metadata) =>
        metadata is not null && metadata.TryGetValue(Progress, out var line) ? line as string : null;

    /// <summary>The token usage in <paramref name="metadata"/>, if any.</summary>
    public static TokenUsage? UsageIn(IReadOnlyDictionary<string, object?>? metadata)
    {
        if (metadata is null || !metadata.TryGetValue(Usage, out var usage))
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
