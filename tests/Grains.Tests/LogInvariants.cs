using System.Text;
using Agents.Events;

namespace Agents.Grains.Tests;

/// <summary>The contract's invariants, checked on a log.</summary>
internal static class LogInvariants
{
    public static void AssertHold(IReadOnlyList<EventEnvelope> events)
    {
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(i + 1, events[i].Seq);
        }

        var deltas = new Dictionary<string, StringBuilder>();
        var ended = new HashSet<string>();
        foreach (var e in events)
        {
            switch (e.Data)
            {
                case MessageDeltaStreamed d:
                    Assert.DoesNotContain(d.MessageId, ended);
                    (deltas.TryGetValue(d.MessageId, out var sb) ? sb : deltas[d.MessageId] = new StringBuilder()).Append(d.Text);
                    break;
                case AssistantMessageCompleted a:
                    Assert.True(ended.Add(a.MessageId), $"message {a.MessageId} ended twice");
                    Assert.Equal(deltas.TryGetValue(a.MessageId, out var text) ? text.ToString() : a.Text, a.Text);
                    break;
                case MessageInterrupted m:
                    Assert.True(ended.Add(m.MessageId), $"message {m.MessageId} ended twice");
                    Assert.True(deltas.ContainsKey(m.MessageId), $"message {m.MessageId} interrupted without deltas");
                    break;
            }
        }

        var calls = events.Select(e => e.Data).OfType<ToolCalled>().Select(c => c.CallId).ToList();
        var results = events.Select(e => e.Data).OfType<ToolResultReturned>().Select(r => r.CallId).ToList();
        Assert.Equal(calls.Distinct().Count(), calls.Count);
        Assert.Equal(calls.Order(), results.Order());

        var runs = events.GroupBy(e => e.RunId).Where(g => g.Key is not null);
        foreach (var run in runs)
        {
            var started = run.Count(e => e.Type == EventTypes.RunStarted);
            var terminal = run.Count(e => EventTypes.IsTerminal(e.Type));
            Assert.Equal(1, started);
            Assert.True(terminal <= 1, $"run {run.Key} has {terminal} terminal events");
            if (terminal == 1)
            {
                Assert.True(EventTypes.IsTerminal(run.Last().Type), $"run {run.Key} has events after its end");
            }
        }

        var open = deltas.Keys.Where(k => !ended.Contains(k)).ToList();
        if (events.Count > 0 && EventTypes.IsTerminal(events[^1].Type))
        {
            Assert.Empty(open);
        }
    }

    /// <summary>The usage each model call recorded, in log order.</summary>
    public static List<TokenUsage> CallUsages(IEnumerable<EventEnvelope> events) =>
        [.. events.Select(e => e.Data).OfType<IModelCallUsage>().Select(c => c.Usage).OfType<TokenUsage>()];

    /// <summary>The sum of what the model calls recorded.</summary>
    public static TokenUsage Spent(IEnumerable<EventEnvelope> events) => CallUsages(events).Aggregate((a, b) => a + b);

    public static List<string> Types(IEnumerable<EventEnvelope> events) => events.Select(e => e.Type).ToList();

    /// <summary>Types with runs of deltas collapsed to one, so an expected order can be written down.</summary>
    public static List<string> Shape(IEnumerable<EventEnvelope> events)
    {
        var shape = new List<string>();
        foreach (var type in events.Select(e => e.Type))
        {
            if (type == EventTypes.MessageDelta && shape.LastOrDefault() == EventTypes.MessageDelta)
            {
                continue;
            }

            shape.Add(type);
        }

        return shape;
    }
}
