using System.Runtime.CompilerServices;
using Agents.Events;
using Agents.Grains.Agent;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Bench;

/// <summary>
/// An in-process model behind the same interface as the real ones: answers with a fixed number of tokens,
/// as fast as the consumer takes them, so the figures measure the service rather than a model.
/// </summary>
internal sealed class BenchChatModel : IChatCompletionService
{
    /// <summary>A first message <c>fan out N</c> makes the first answer a <c>start_subagents</c> call with N tasks.</summary>
    public const string FanOut = "fan out ";

    public int TokensPerAnswer { get; set; } = 200;

    /// <summary>A pause before each token; zero streams as fast as the consumer takes them.</summary>
    public TimeSpan TokenDelay { get; set; }

    public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?>();

    public Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    public async IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // "fan out N": the first call starts N sub-agents that each write an answer; the call after their results
        // answers briefly.
        var first = chatHistory.FirstOrDefault(m => m.Role == AuthorRole.User)?.Content ?? "";
        if (first.StartsWith(FanOut, StringComparison.Ordinal) && int.TryParse(first[FanOut.Length..], out var children))
        {
            if (!chatHistory.Any(m => m.Role == AuthorRole.Tool))
            {
                var tasks = System.Text.Json.JsonSerializer.Serialize(new { tasks = Enumerable.Range(1, children).Select(i => new { title = $"Part {i}", prompt = "Write at length." }) });
                var call = new StreamingChatMessageContent(AuthorRole.Assistant, null);
                call.Items.Add(new StreamingFunctionCallUpdateContent($"call_{Guid.NewGuid():N}"[..20], "subagents-start_subagents", tasks, 0));
                yield return call;
                yield break;
            }

            yield return new StreamingChatMessageContent(AuthorRole.Assistant, "Joined.");
            yield break;
        }

        var tokens = TokensPerAnswer;
        for (var i = 0; i < tokens; i++)
        {
            // Yield now and then, as a network stream would, so other conversations get the scheduler.
            if (TokenDelay > TimeSpan.Zero)
            {
                await Task.Delay(TokenDelay, cancellationToken);
            }
            else if (i % 16 == 0)
            {
                await Task.Yield();
            }

            yield return new StreamingChatMessageContent(AuthorRole.Assistant, Token(i));
        }

        yield return new StreamingChatMessageContent(AuthorRole.Assistant, null,
            metadata: new Dictionary<string, object?> { [ChunkMetadata.Usage] = new TokenUsage(chatHistory.Count * 20, tokens) });
    }

    // About four characters a token, as English text is for common tokenizers.
    private static string Token(int i) => (i % 7) switch
    {
        0 => "The ",
        1 => "agen",
        2 => "t wo",
        3 => "rks ",
        4 => "on, ",
        5 => "dura",
        _ => "bly ",
    };
}
