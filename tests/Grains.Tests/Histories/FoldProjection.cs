using System.Text.Json;
using System.Text.Json.Nodes;
using Agents.Events;
using Agents.Grains.Conversations;

namespace Agents.Grains.Tests.Histories;

/// <summary>
/// The server's fold of a recorded history as plain JSON, after every event and at the end: what the JavaScript
/// package's reducer (clients/js) must also compute from the same events. Committed beside each history as
/// <c>name.fold.json</c>, so both languages are checked against one file.
/// </summary>
internal static class FoldProjection
{
    public static JsonObject Of(IReadOnlyList<EventEnvelope> events)
    {
        var state = new ConversationState { Id = events[0].ConversationId, Owner = "alice", Title = "recorded", CreatedAt = events[0].At };
        var steps = new JsonArray();
        foreach (var e in events)
        {
            state.Apply(e);
            steps.Add(Step(state));
        }

        return new JsonObject { ["steps"] = steps, ["final"] = Final(state) };
    }

    private static JsonObject Step(ConversationState state)
    {
        var run = state.ActiveRun;
        var pending = run?.PendingCalls ?? [];
        return new JsonObject
        {
            ["seq"] = state.LastSeq,
            ["status"] = Lower(state.Status),
            ["activeRunId"] = run?.RunId,
            ["pendingCalls"] = Array(pending.Select(p => p.CallId)),
            ["openRequests"] = Array(pending.Where(p => p is { RequestId: not null, Answered: false }).Select(p => p.RequestId!)),
            ["openMessage"] = run?.OpenMessage is { } open ? new JsonObject { ["messageId"] = open.MessageId, ["text"] = open.Text } : null,
            ["queued"] = Array(state.Queue.OfType<UserItem>().Select(u => u.MessageId)),
        };
    }

    private static JsonObject Final(ConversationState state) => new()
    {
        ["lastRunOutcome"] = state.LastRunOutcome is { } outcome ? Lower(outcome) : null,
        ["runs"] = new JsonArray([.. state.Runs.Select(r => (JsonNode)new JsonObject
        {
            ["runId"] = r.RunId,
            ["outcome"] = r.Outcome is { } o ? Lower(o) : null,
            ["usage"] = r.Usage is null ? null : JsonSerializer.SerializeToNode(r.Usage, AgentJson.Options),
            ["errorCode"] = r.Error?.Code,
        })]),
        ["assistantMessages"] = new JsonArray([.. state.History.OfType<AssistantItem>().Where(a => a.MessageId is not null)
            .Select(a => (JsonNode)new JsonObject { ["messageId"] = a.MessageId, ["text"] = a.Text })]),
        ["toolResults"] = new JsonArray([.. state.History.OfType<ToolResultItem>()
            .Select(t => (JsonNode)new JsonObject { ["callId"] = t.CallId, ["name"] = t.Name, ["errorCode"] = t.Error?.Code })]),
        ["userMessages"] = Array(state.History.OfType<UserItem>().Select(u => u.MessageId)),
    };

    private static JsonArray Array(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)JsonValue.Create(v))]);

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
