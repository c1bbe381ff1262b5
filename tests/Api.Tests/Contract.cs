using Agents.Events;

namespace Agents.Api.Tests;

/// <summary>What the tests expect of any log: the contract's invariants, and the shape of the Demo dinner run.</summary>
internal static class Contract
{
    public const string DinnerRequest = "Can you order dinner for two tonight?";

    /// <summary>The dinner run's event types, consecutive deltas shown once.</summary>
    public static readonly string[] DinnerShape =
    [
        "message.user", "run.started",
        "progress", "tool.call", "tool.result",
        "progress", "message.delta", "message.assistant", "tool.call", "input.requested", "input.received", "tool.result",
        "message.delta", "message.assistant", "run.completed",
    ];

    public static string[] Shape(IEnumerable<EventEnvelope> events)
    {
        var shape = new List<string>();
        foreach (var e in events)
        {
            if (e.Type == EventTypes.MessageDelta && shape.Count > 0 && shape[^1] == EventTypes.MessageDelta)
            {
                continue;
            }

            shape.Add(e.Type);
        }

        return [.. shape];
    }

    /// <summary>Seqs are exactly 1..n (or from..n), each once, in order.</summary>
    public static void AssertGapless(IReadOnlyList<EventEnvelope> events, long from = 1)
    {
        var expected = Enumerable.Range(0, events.Count).Select(i => from + i);
        Assert.Equal(expected, events.Select(e => e.Seq));
    }

    /// <summary>Per message, the deltas concatenate to the final text.</summary>
    public static void AssertDeltasAddUp(IReadOnlyList<EventEnvelope> events)
    {
        foreach (var message in events.Select(e => e.Data).OfType<AssistantMessageCompleted>())
        {
            var streamed = string.Concat(events.Select(e => e.Data).OfType<MessageDeltaStreamed>().Where(d => d.MessageId == message.MessageId).Select(d => d.Text));
            Assert.Equal(message.Text, streamed);
        }
    }
}
