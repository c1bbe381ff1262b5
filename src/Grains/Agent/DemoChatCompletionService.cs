using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Agents.Events;
using Agents.Grains.Agent.Tools;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Agent;

/// <summary>
/// The built-in model (<c>Llm:Provider=Demo</c>): no network, scripted from the chat history, streamed at a
/// human pace. Asked to order dinner it plays the whole agent scenario (progress, a search, a reservation held
/// for approval, an answer); anything else gets a short answer. It reads only the history, so a step retried
/// after a restart plays the same way.
/// </summary>
public sealed class DemoChatCompletionService(IOptions<LlmOptions> options, TimeProvider time, DemoSite site) : IChatCompletionService
{

    private static readonly string[] DinnerWords = ["dinner", "restaurant", "table", "reservation", "eat out", "book a"];

    public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?> { ["ModelId"] = "demo" };

    public async Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        await foreach (var chunk in GetStreamingChatMessageContentsAsync(chatHistory, executionSettings, kernel, cancellationToken))
        {
            text.Append(chunk.Content);
        }

        return [new ChatMessageContent(AuthorRole.Assistant, text.ToString())];
    }

    public async IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(
        ChatHistory chatHistory,
        PromptExecutionSettings? executionSettings = null,
        Kernel? kernel = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var inputTokens = chatHistory.Sum(m => (m.Content?.Length ?? 0) / 4 + 4);
        var lastUser = chatHistory.LastOrDefault(m => m.Role == AuthorRole.User);
        var request = lastUser?.Content ?? "";
        var sinceRequest = lastUser is null ? [] : chatHistory.Skip(chatHistory.IndexOf(lastUser) + 1).ToList();
        var turn = DemoResearch.Plan(chatHistory, request, sinceRequest, kernel, site) ?? Plan(request, sinceRequest, kernel);

        if (turn.Progress is not null)
        {
            yield return Chunk(null, new Dictionary<string, object?> { [ChunkMetadata.Progress] = turn.Progress });
        }

        var outputTokens = 0;
        if (turn.Text is not null)
        {
            var delay = options.Value.DemoTokensPerSecond > 0 ? TimeSpan.FromSeconds(1 / options.Value.DemoTokensPerSecond) : TimeSpan.Zero;
            foreach (var token in Tokenize(turn.Text))
            {
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, time, cancellationToken);
                }

                cancellationToken.ThrowIfCancellationRequested();
                outputTokens++;
                yield return Chunk(token);
            }
        }

        if (turn.Call is { } call)
        {
            if (options.Value.DemoTokensPerSecond > 0)
            {
                // A model takes a moment to write a call's arguments.
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(0.3, 10 / options.Value.DemoTokensPerSecond)), time, cancellationToken);
            }

            outputTokens += call.Arguments.Length / 4;
            var update = new StreamingChatMessageContent(AuthorRole.Assistant, null);
            update.Items.Add(new StreamingFunctionCallUpdateContent($"call_{Guid.NewGuid():N}"[..21], call.Name, call.Arguments, 0));
            yield return update;
        }

        yield return Chunk(null, new Dictionary<string, object?> { [ChunkMetadata.Usage] = new TokenUsage(inputTokens, outputTokens) });
    }

    private static DemoTurn Plan(string request, List<ChatMessageContent> sinceRequest, Kernel? kernel)
    {
        var search = FullName(kernel, DemoPlugin.SearchRestaurants);
        var reserve = FullName(kernel, DemoPlugin.MakeReservation);
        var wantsDinner = DinnerWords.Any(w => request.Contains(w, StringComparison.OrdinalIgnoreCase));
        if (!wantsDinner || search is null || reserve is null)
        {
            return new DemoTurn(null, Answer(request), null);
        }

        var results = sinceRequest.SelectMany(m => m.Items.OfType<FunctionResultContent>()).ToList();
        var found = results.LastOrDefault(r => r.FunctionName == DemoPlugin.SearchRestaurants);
        var booked = results.LastOrDefault(r => r.FunctionName == DemoPlugin.MakeReservation);
        if (found is null)
        {
            var query = JsonSerializer.Serialize(new { query = request.Length > 120 ? request[..120] : request });
            return new DemoTurn("Finding places", null, new DemoCall(search, query));
        }

        if (booked is null)
        {
            var pick = PickRestaurant(found.Result?.ToString());
            var people = PeopleIn(request);
            var args = JsonSerializer.Serialize(new { restaurant = pick, time = "19:30", people });
            return new DemoTurn("Evaluating places", $"{pick} looks best tonight: great reviews and a table at 19:30. I'll book it for {people} if you approve.\n", new DemoCall(reserve, args));
        }

        var outcome = booked.Result?.ToString() ?? "";
        return outcome.Contains("\"confirmation\"", StringComparison.OrdinalIgnoreCase)
            ? new DemoTurn(null, Confirmed(outcome), null)
            : new DemoTurn(null, $"I did not book anything: {Shorten(outcome)}. Tell me if you want another place or time, and I'll try again.", null);
    }

    private static string Answer(string request) =>
        $"I'm the demo model of this service, running offline. You said: \"{Shorten(request)}\". " +
        "Ask me to order dinner to watch a whole agent run: progress, tool calls, and an approval before I book a table; " +
        "or to research a topic (\"research sourdough\") to watch three sub-agents read sources in parallel.";

    private static string Confirmed(string reservationJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(reservationJson);
            var r = doc.RootElement;
            return $"Done! You have a table for {r.GetProperty("people").GetInt32()} at {r.GetProperty("restaurant").GetString()} " +
                $"tonight at {r.GetProperty("time").GetString()}. Your confirmation number is {r.GetProperty("confirmation").GetString()}. Enjoy your dinner!";
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return "Your table is booked. Enjoy your dinner!";
        }
    }

    private static string PickRestaurant(string? resultsJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(resultsJson ?? "[]");
            return doc.RootElement.EnumerateArray()
                .OrderByDescending(r => r.GetProperty("rating").GetDouble())
                .Select(r => r.GetProperty("name").GetString())
                .FirstOrDefault() ?? "Trattoria Lumi";
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return "Trattoria Lumi";
        }
    }

    private static int PeopleIn(string request)
    {
        var words = request.ToLowerInvariant().Split([' ', ',', '.', '!', '?'], StringSplitOptions.RemoveEmptyEntries);
        string[] numbers = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
        for (var i = 0; i < words.Length; i++)
        {
            var next = i + 1 < words.Length ? words[i + 1] : "";
            if (next is "people" or "persons" or "guests" or "of" or "us")
            {
                if (int.TryParse(words[i], out var n) && n is > 0 and <= 20)
                {
                    return n;
                }

                var index = Array.IndexOf(numbers, words[i]);
                if (index > 0)
                {
                    return index;
                }
            }
        }

        return 2;
    }

    internal static string? FullName(Kernel? kernel, string function) =>
        kernel?.Plugins.SelectMany(p => p.Select(f => (Plugin: p.Name, Function: f.Name)))
            .Where(x => x.Function == function)
            .Select(x => $"{x.Plugin}-{x.Function}")
            .FirstOrDefault();

    internal static string Shorten(string text) => text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "...");

    // Word-sized pieces, each keeping its trailing space, so the deltas concatenate to the text.
    private static IEnumerable<string> Tokenize(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == ' ' || text[i] == '\n')
            {
                yield return text[start..(i + 1)];
                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            yield return text[start..];
        }
    }

    private static StreamingChatMessageContent Chunk(string? text, IReadOnlyDictionary<string, object?>? metadata = null) =>
        new(AuthorRole.Assistant, text, metadata: metadata);
}

/// <summary>One answer of the Demo model: a status line, text, a tool call (any of them).</summary>
internal sealed record DemoTurn(string? Progress, string? Text, DemoCall? Call);

internal sealed record DemoCall(string Name, string Arguments);
