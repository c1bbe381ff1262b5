using System.Runtime.CompilerServices;
using System.Text.Json;
using Agents.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Agents.Grains.Tests.Histories;

/// <summary>
/// Records the histories that <see cref="RecordedHistoryTests"/> replays: real runs of the service (a silo process
/// with the Demo model, or the test silo's scripted model), their stored logs written as JSON beside this file. Explicit:
/// run them to record again after the contract changes, e.g.
/// <c>dotnet test --project tests/Grains.Tests -c Release -- --filter-class "*HistoryRecorder" --explicit only</c>.
/// </summary>
public sealed class HistoryRecorder(SiloFixture silo)
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, string> Fast = new()
    {
        ["Llm__DemoTokensPerSecond"] = "200",
        ["Llm__DemoToolLatency"] = "00:00:00.050",
    };

    [Fact(Explicit = true)]
    public Task Dinner() => RecordOnSiloProcessAsync("dinner", async (grain, store, id) =>
    {
        await grain.CreateAsync(Alice, new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
        var request = await WaitForRequestAsync(store, id);
        await grain.RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
    }, Fast);

    [Fact(Explicit = true)]
    public async Task Ask()
    {
        var id = Ids.NewConversationId();
        var script = silo.Model.Add(
            new Turn(new TextStep("Let me ask."), new ToolStep("agent-ask_user", """{"question":"Which city?"}""")),
            new Turn(new TextStep("Lisbon it is.")));
        await silo.Conversation(id).CreateAsync(Alice, new CreateConversation(Text: script.Marker), Ct);
        var request = (InputRequested)(await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested))[^1].Data;
        await silo.Conversation(id).RespondAsync(Alice, new Respond(request.RequestId, Text: "Lisbon"), Ct);
        Write("ask", await silo.WaitForEndAsync(id));
    }

    [Fact(Explicit = true)]
    public Task CancelMidTool() => RecordOnSiloProcessAsync("cancel-mid-tool", async (grain, store, id) =>
    {
        await grain.CreateAsync(Alice, new CreateConversation(Text: "Order dinner for two"), Ct);
        // search_restaurants is running (it takes 4 s).
        await store.WaitForAsync(id, e => e.Type == EventTypes.ToolCall, TimeSpan.FromSeconds(30));
        await grain.CancelAsync(Alice, Ct);
    }, new() { ["Llm__DemoTokensPerSecond"] = "200", ["Llm__DemoToolLatency"] = "00:00:04" });

    [Fact(Explicit = true)]
    public Task LogFull() => RecordOnSiloProcessAsync("log-full", async (grain, _, _) =>
        await grain.CreateAsync(Alice, new CreateConversation(Text: "Order dinner for two"), Ct),
        new(Fast) { ["Agent__MaxEventsPerConversation"] = "12", ["Agent__DeltaFlushWindow"] = "00:00:00" });

    [Fact(Explicit = true)]
    public async Task RestartMidStream()
    {
        var (directory, id) = (TestEnvironment.NewTempDirectory(), Ids.NewConversationId());
        var settings = new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "40", ["Llm__DemoToolLatency"] = "00:00:00.050" };
        var store = SiloProcess.OpenStore(directory);
        await using (var first = SiloProcess.Start(directory, settings, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
            await grain.CreateAsync(Alice, new CreateConversation(Text: "Please book a table for dinner, 3 people"), Ct);
            var request = await WaitForRequestAsync(store, id);
            await grain.RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
            // The final answer is streaming: some of its deltas are stored.
            await store.WaitForAsync(id, e => e.Data is MessageDeltaStreamed { Text: var t } && t.Contains("confirmation", StringComparison.Ordinal));
            await first.KillAsync();
            await client.StopAsync(CancellationToken.None);
        }

        await using var second = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        Write("restart-mid-stream", await store.WaitForEndAsync(id, TimeSpan.FromSeconds(60)));
    }

    /// <summary>The dinner run killed while it waits for approval, approved on the next process: usage spans both.</summary>
    [Fact(Explicit = true)]
    public async Task UsageAcrossRestart()
    {
        var (directory, id) = (TestEnvironment.NewTempDirectory(), Ids.NewConversationId());
        var store = SiloProcess.OpenStore(directory);
        await using (var first = SiloProcess.Start(directory, Fast, TestEnvironment.FreePort()))
        {
            using var client = await first.ConnectAsync(Ct);
            var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
            await grain.CreateAsync(Alice, new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);
            await WaitForRequestAsync(store, id);
            await first.KillAsync();
            await client.StopAsync(CancellationToken.None);
        }

        await using var second = SiloProcess.Start(directory, Fast, TestEnvironment.FreePort());
        using var secondClient = await second.ConnectAsync(Ct);
        var request = (InputRequested)(await store.ReadAllAsync(id)).Last(e => e.Type == EventTypes.InputRequested).Data;
        await secondClient.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id)
            .RespondAsync(Alice, new Respond(request.RequestId, Approved: true), Ct);
        Write("usage-across-restart", await store.WaitForEndAsync(id, TimeSpan.FromSeconds(60)));
        await secondClient.StopAsync(CancellationToken.None);
    }

    private static async Task RecordOnSiloProcessAsync(
        string name, Func<IConversationGrain, Storage.IEventStore, string, Task> drive, Dictionary<string, string> settings)
    {
        var (directory, id) = (TestEnvironment.NewTempDirectory(), Ids.NewConversationId());
        var store = SiloProcess.OpenStore(directory);
        await using var process = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        using var client = await process.ConnectAsync(Ct);
        await drive(client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id), store, id);
        Write(name, await store.WaitForEndAsync(id, TimeSpan.FromSeconds(60)));
        await client.StopAsync(CancellationToken.None);
    }

    private static async Task<InputRequested> WaitForRequestAsync(Storage.IEventStore store, string id) =>
        (InputRequested)(await store.WaitForAsync(id, e => e.Type == EventTypes.InputRequested, TimeSpan.FromSeconds(30)))[^1].Data;

    private static void Write(string name, IReadOnlyList<EventEnvelope> events, [CallerFilePath] string here = "")
    {
        var options = new JsonSerializerOptions(AgentJson.Options) { WriteIndented = true };
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(here)!, $"{name}.json"), JsonSerializer.Serialize(events, options) + "\n");
    }
}
