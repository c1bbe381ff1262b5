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
        var prompt = FanOutScripts.Parent(model, 3);
        var settings = FanOutScripts.Settings(model);
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        List<string> childIds;
        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            await client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id)
                .CreateAsync(Alice, new CreateConversation(Text: prompt), Ct);
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

        await FanOutScripts.AssertEveryChildOnceAsync(store, events, 3);
        // Every child was cut by the kill, so every one answered again after it.
        var answers = new List<string>();
        foreach (var childId in childIds)
        {
            answers.Add((await store.ReadAllAsync(childId)).Select(e => e.Data).OfType<AssistantMessageCompleted>().Last().Text);
        }

        Assert.Equal(["Report 1.", "Report 2.", "Report 3."], answers);
        foreach (var childId in childIds)
        {
            // Cut by the kill, every one of them: resumed once.
            Assert.Single(await store.ReadAllAsync(childId), e => e.Type == EventTypes.RunResumed);
        }
    }
}
