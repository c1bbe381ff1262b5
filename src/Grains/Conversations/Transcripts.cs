using System.Text.Json;
using Agents.Events;
using Agents.Grains.Storage;

namespace Agents.Grains.Conversations;

/// <summary>
/// The transcript of a conversation's finished runs: messages, tool calls and results, timestamps, outcomes
/// and token usage, derived from the state (and so from the log) when a run ends.
/// </summary>
internal static class Transcripts
{
    public static TranscriptRecord Build(ConversationState state)
    {
        var finished = state.Runs.Where(r => r.Outcome is not null).ToList();
        var finishedIds = finished.Select(r => r.RunId).ToHashSet();
        var items = state.History
            .Concat(state.ActiveRun?.Deferred ?? [])
            .Where(i => i.RunId is not null && finishedIds.Contains(i.RunId))
            .OrderBy(i => i.Seq)
            .ToLookup(i => i.RunId!);

        var runs = finished.Select(r => new TranscriptRun(
            r.RunId,
            r.StartedAt,
            r.EndedAt,
            r.Outcome,
            r.Usage,
            r.Error,
            items[r.RunId].Select(ToEntry).ToList())).ToList();

        var usage = runs.Select(r => r.Usage).OfType<TokenUsage>().Aggregate<TokenUsage, TokenUsage?>(null, (sum, u) => sum is null ? u : sum + u);
        var transcript = new TranscriptDocument(state.Id, state.Title, state.CreatedAt, state.LastSeq, usage, runs);
        return new TranscriptRecord(
            state.Id,
            state.Owner,
            state.Title,
            state.LastRunOutcome,
            state.LastSeq,
            state.UpdatedAt,
            JsonSerializer.Serialize(transcript, AgentJson.Options));
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

    private sealed record TranscriptDocument(
        string ConversationId, string Title, DateTimeOffset CreatedAt, long LastSeq, TokenUsage? Usage, List<TranscriptRun> Runs);

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
