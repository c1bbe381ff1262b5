using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Agents.Grains.Agent;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Tests;

/// <summary>
/// The model of the tests: a conversation whose first user message is a registered marker plays that script,
/// one turn per model call, and every prompt it receives is recorded. Anything else goes to the Demo model.
/// </summary>
internal sealed class ScriptedChatModel(DemoChatCompletionService demo) : IChatCompletionService
{
    private readonly ConcurrentDictionary<string, Script> _scripts = new();

    public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?>();

    /// <summary>Registers a script under a fresh marker; start the conversation with the marker as its text.</summary>
    public Script Add(params Turn[] turns)
    {
        var script = new Script($"script-{Guid.NewGuid():N}", turns);
        _scripts[script.Marker] = script;
        return script;
    }

    public Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("The agent loop always streams.");

    public async IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(
        ChatHistory chatHistory,
        PromptExecutionSettings? executionSettings = null,
        Kernel? kernel = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var first = chatHistory.FirstOrDefault(m => m.Role == AuthorRole.User)?.Content ?? "";
        if (!_scripts.TryGetValue(first, out var script))
        {
            await foreach (var chunk in demo.GetStreamingChatMessageContentsAsync(chatHistory, executionSettings, kernel, cancellationToken))
            {
                yield return chunk;
            }

            yield break;
        }

        var turn = script.Next(chatHistory);
        foreach (var step in turn.Steps)
        {
            switch (step)
            {
                case TextStep text:
                    foreach (var piece in text.Pieces)
                    {
                        yield return new StreamingChatMessageContent(AuthorRole.Assistant, piece);
                    }

                    break;
                case ToolStep tool:
                    var update = new StreamingChatMessageContent(AuthorRole.Assistant, null);
                    // Arguments arrive in pieces, as real servers send them.
                    var half = tool.Arguments.Length / 2;
                    update.Items.Add(new StreamingFunctionCallUpdateContent(tool.CallId, tool.Name, tool.Arguments[..half], tool.Index));
                    yield return update;
                    var rest = new StreamingChatMessageContent(AuthorRole.Assistant, null);
                    rest.Items.Add(new StreamingFunctionCallUpdateContent(null, null, tool.Arguments[half..], tool.Index));
                    yield return rest;
                    break;
                case HoldStep hold:
                    hold.Reached.TrySetResult();
                    await hold.Release.Task.WaitAsync(cancellationToken);
                    break;
                case FailStep fail:
                    throw fail.Exception;
                case PauseStep pause:
                    await Task.Delay(pause.Duration, cancellationToken);
                    break;
            }
        }
    }

    public sealed class Script(string marker, Turn[] turns)
    {
        private readonly ConcurrentQueue<ChatHistory> _prompts = new();
        private int _calls;

        public string Marker { get; } = marker;

        /// <summary>Every prompt the model received for this script, in order.</summary>
        public IReadOnlyList<ChatHistory> Prompts => _prompts.ToList();

        public Turn Next(ChatHistory prompt)
        {
            _prompts.Enqueue(new ChatHistory(prompt));
            var index = Interlocked.Increment(ref _calls) - 1;
            return index < turns.Length ? turns[index] : turns[^1];
        }
    }
}

internal sealed record Turn(params Step[] Steps);

internal abstract record Step;

internal sealed record TextStep(params string[] Pieces) : Step;

internal sealed record ToolStep(string Name, string Arguments, string? CallId = null, int Index = 0) : Step;

/// <summary>Holds the stream until released, and tells when it got there.</summary>
internal sealed record HoldStep : Step
{
    public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed record FailStep(Exception Exception) : Step;

/// <summary>Waits, as a model between two chunks; longer than the flush window, the text before it is stored.</summary>
internal sealed record PauseStep(TimeSpan Duration) : Step
{
    public static PauseStep PastTheFlushWindow { get; } = new(TimeSpan.FromMilliseconds(150));
}
