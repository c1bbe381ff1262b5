using System.Text.Json;
using Agents.Events;
using Agents.FakeOpenAI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agents.Grains.Tests;

/// <summary>
/// kill -9 of the silo process while a parent's sub-agents stream: a new process resumes parent and children with no
/// call from outside, every child is started once and completes once, and the parent joins all three.
/// </summary>
public sealed class SubagentCrashTests
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KilledMidFanOut_EveryChildCompletesOnce_AndTheParentJoinsThem()
    {
        await using var model = await FakeOpenAIServer.StartAsync(cancellationToken: Ct);
        var children = Enumerable.Range(1, 3).Select(i => model.NewScript()
            // Long enough to be cut by the kill; after the restart the step is retried and answers at once.
            .Then(FakeReply.Stream().StampedText(60, TimeSpan.FromMilliseconds(50)))
            .Otherwise(FakeReply.Say($"Report {i}."))).ToList();
        var tasks = JsonSerializer.Serialize(new { tasks = children.Select((c, i) => new { title = $"Part {i + 1}", prompt = $"Research part {i + 1} {c.Marker}" }) });
        var parent = model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_fanout", "subagents-start_subagents", tasks))
            .Otherwise(FakeReply.Say("Combined report."));
        var settings = new Dictionary<string, string>
        {
            ["Llm__Provider"] = "OpenAI",
            ["Llm__Endpoint"] = model.Endpoint.ToString(),
            ["Llm__Model"] = "fake",
            ["Llm__ApiKey"] = "unused",
            ["Llm__InitialBackoff"] = "00:00:00.100",
            ["Agent__DeltaFlushWindow"] = "00:00:00",
        };
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        List<string> childIds;
        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            await client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id)
                .CreateAsync(Alice, new CreateConversation(Text: $"Research everything {parent.Marker}"), Ct);
            var started = await store.WaitForAsync(id, e => e.Data is SubagentStarted { Title: "Part 3" }, TimeSpan.FromSeconds(30));
            childIds = [.. started.Select(e => e.Data).OfType<SubagentStarted>().Select(s => s.ChildId)];
            // Every child is streaming.
            foreach (var childId in childIds)
            {
                await store.WaitForAsync(childId, e => e.Type == EventTypes.MessageDelta, TimeSpan.FromSeconds(30));
            }

            await first.KillAsync();
            await client.StopAsync(CancellationToken.None);
        }

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        var events = await store.WaitForEndAsync(id, TimeSpan.FromSeconds(60));

        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Equal(childIds, events.Select(e => e.Data).OfType<SubagentStarted>().Select(s => s.ChildId));
        Assert.Equal(childIds.Order(), events.Select(e => e.Data).OfType<SubagentEnded>().Select(s => s.ChildId).Order());
        using var joined = JsonDocument.Parse(events.Select(e => e.Data).OfType<ToolResultReturned>().Single().Result!);
        Assert.Equal(["Report 1.", "Report 2.", "Report 3."], joined.RootElement.EnumerateArray().Select(o => o.GetProperty("text").GetString()));
        foreach (var childId in childIds)
        {
            var log = await store.ReadAllAsync(childId);
            LogInvariants.AssertHold(log);
            // Started once: one first message, one run; resumed after the kill, completed once.
            Assert.Single(log, e => e.Type == EventTypes.UserMessage);
            Assert.Single(log, e => e.Type == EventTypes.RunStarted);
            Assert.Single(log, e => e.Type == EventTypes.RunResumed);
            Assert.Equal(EventTypes.RunCompleted, log[^1].Type);
        }

        Assert.Equal(childIds.Order(), (await store.ListChildrenAsync(id, Ct)).Select(c => c.Id).Order());
    }
}
