using System.Text;
using System.Text.Json;
using Agents.Events;
using Agents.Grains.Storage;

namespace Agents.Grains.Conversations;

/// <summary>
/// Transcripts of finished runs: messages, tool calls and results, timestamps, outcome and token usage,
/// derived from the state (and so from the log) when a run ends, one row per run; read back as one document.
/// </summary>
internal static class Transcripts
{
    /// <summary>The transcript of the run that just ended (the state's last run).</summary>
    public static TranscriptRecord BuildLastRun(ConversationState state)
    {
        var run = state.Runs[^1];
        // A run's items are the last ones of the history: walk back to its first.
        var items = new List<HistoryItem>();
        for (var i = state.History.Count - 1; i >= 0 && state.History[i].RunId == run.RunId; i--)
        {
            items.Add(state.History[i]);
        }

        items.Reverse();
        var transcript = new TranscriptRun(
            run.RunId, run.StartedAt, run.EndedAt, run.Outcome, run.Usage, run.Error, items.OrderBy(i => i.Seq).Select(ToEntry).ToList());
        return new TranscriptRecord(
            state.Id,
            run.RunId,
            state.Owner,
            run.Outcome ?? throw new InvalidOperationException($"Run {run.RunId} has not ended."),
            run.StartedAt,
            run.EndedAt ?? state.UpdatedAt,
            state.LastSeq,
            JsonSerializer.Serialize(transcript, AgentJson.Options));
    }

    /// <summary>
    /// The conversation's transcript: <c>{ conversationId, title, createdAt, lastSeq, usage, runs: [...] }</c>,
    /// its runs oldest first.
    /// </summary>
    public static string Document(ConversationRecord conversation, IReadOnlyList<TranscriptRecord> runs)
    {
        TokenUsage? usage = null;
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("conversationId", conversation.Id);
            writer.WriteString("title", conversation.Title);
            writer.WriteString("createdAt", AgentJson.FormatTimestamp(conversation.CreatedAt));
            writer.WriteNumber("lastSeq", conversation.LastSeq);
            writer.WritePropertyName("runs");
            writer.WriteStartArray();
            foreach (var run in runs)
            {
                writer.WriteRawValue(run.Transcript);
                using var parsed = JsonDocument.Parse(run.Transcript);
                if (parsed.RootElement.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                {
                    var runUsage = new TokenUsage(u.GetProperty("inputTokens").GetInt64(), u.GetProperty("outputTokens").GetInt64());
                    usage = usage is null ? runUsage : usage + runUsage;
                }
            }

            writer.WriteEndArray();
            if (usage is not null)
            {
                writer.WritePropertyName("usage");
                JsonSerializer.Serialize(writer, usage, AgentJson.Options);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static TranscriptEntry ToEntry(HistoryItem item) => item switch
    {
        UserItem u => new TranscriptEntry(u.Seq, u.At, "user", u.MessageId, u.Text, null, null, null, null, null),
        AssistantItem a => new TranscriptEntry(a.Seq, a.At, "assistant", a.MessageId, a.Text,
            a.Calls.Count == 0 ? null : a.Calls.Select(c => new TranscriptToolCall(c.CallId, c.Name, JsonDocument.Parse(c.Arguments).RootElement)).ToList(),
            null, null, null, null),
        ToolResultItem t => new TranscriptEntry(t.Seq, t.At, "tool", null, null, null, t.CallId, t.Name,
            t.Result is null ? null : JsonDocument.Parse(t.Result).RootElement, t.Error),
        _ => throw new ArgumentOutOfRangeException(nameof(item)),
    };

    private sealed record TranscriptRun(
        string RunId, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, RunOutcome? Outcome, TokenUsage? Usage, ErrorInfo? Error, List<TranscriptEntry> Items);

    private sealed record TranscriptEntry(
        long Seq,
        DateTimeOffset At,
        string Kind,
        string? MessageId,
        string? Text,
        List<TranscriptToolCall>? ToolCalls,
        string? CallId,
        string? Name,
        JsonElement? Result,
        ErrorInfo? Error);

    private sealed record TranscriptToolCall(string CallId, string Name, JsonElement Arguments);
}
