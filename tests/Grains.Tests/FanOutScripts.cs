using System.Text.Json;
using Agents.FakeOpenAI;

namespace Agents.Grains.Tests;

/// <summary>
/// A parent that fans out to sub-agents, scripted on the fake OpenAI server for silo processes: each child streams long
/// enough to be cut by a kill, and answers <c>Report N.</c> when asked again after it.
/// </summary>
internal static class FanOutScripts
{
    public static string Parent(FakeOpenAIServer model, int children)
    {
        var scripts = Enumerable.Range(1, children).Select(i => model.NewScript()
            .Then(FakeReply.Stream().StampedText(60, TimeSpan.FromMilliseconds(50)))
            .Otherwise(FakeReply.Say($"Report {i}."))).ToList();
        var tasks = JsonSerializer.Serialize(new { tasks = scripts.Select((c, i) => new { title = $"Part {i + 1}", prompt = $"Research part {i + 1} {c.Marker}" }) });
        var parent = model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_fanout", "subagents-start_subagents", tasks))
            .Otherwise(FakeReply.Say("Combined report."));
        return $"Research everything {parent.Marker}";
    }

    /// <summary>What a silo process needs to talk to the fake server.</summary>
    public static Dictionary<string, string> Settings(FakeOpenAIServer model) => new()
    {
        ["Llm__Provider"] = "OpenAI",
        ["Llm__Endpoint"] = model.Endpoint.ToString(),
        ["Llm__Model"] = "fake",
        ["Llm__ApiKey"] = "unused",
        ["Llm__InitialBackoff"] = "00:00:00.100",
        ["Agent__DeltaFlushWindow"] = "00:00:00",
    };

    /// <summary>The parent's log and its children's after the fan-out: each child started, resumed and completed once.</summary>
    public static async Task AssertEveryChildOnceAsync(Storage.IEventStore store, List<Events.EventEnvelope> parent, int children)
    {
        LogInvariants.AssertHold(parent);
        Assert.Equal(Events.EventTypes.RunCompleted, parent[^1].Type);
        var started = parent.Select(e => e.Data).OfType<Events.SubagentStarted>().Select(s => s.ChildId).ToList();
        Assert.Equal(children, started.Count);
        Assert.Equal(started.Order(), parent.Select(e => e.Data).OfType<Events.SubagentEnded>().Select(s => s.ChildId).Order());
        using var joined = JsonDocument.Parse(parent.Select(e => e.Data).OfType<Events.ToolResultReturned>().Single().Result!);
        var outcomes = joined.RootElement.EnumerateArray().ToList();
        Assert.Equal(started, outcomes.Select(o => o.GetProperty("childId").GetString()));
        foreach (var (childId, outcome) in started.Zip(outcomes))
        {
            var log = await store.ReadAllAsync(childId);
            // The result holds what the child finally said, whether or not a kill cut it first.
            Assert.Equal("completed", outcome.GetProperty("outcome").GetString());
            Assert.Equal(log.Select(e => e.Data).OfType<Events.AssistantMessageCompleted>().Last().Text, outcome.GetProperty("text").GetString());
            LogInvariants.AssertHold(log);
            Assert.Single(log, e => e.Type == Events.EventTypes.UserMessage);
            Assert.Single(log, e => e.Type == Events.EventTypes.RunStarted);
            Assert.Equal(Events.EventTypes.RunCompleted, log[^1].Type);
        }

        Assert.Equal(started.Order(), (await store.ListChildrenAsync(parent[0].ConversationId)).Select(c => c.Id).Order());
    }
}
