using Agents.Events;
using Agents.Grains.Agent;
using Agents.Grains.Storage;
using Agents.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel.ChatCompletion;

[assembly: AssemblyFixture(typeof(Agents.Grains.Tests.SiloFixture))]
[assembly: AssemblyFixture(typeof(Agents.Grains.Tests.PostgresFixture))]

namespace Agents.Grains.Tests;

/// <summary>
/// One real silo for the test assembly, wired exactly as the service wires it, on a real SQLite file,
/// with the scripted model in place of the Demo model.
/// </summary>
public sealed class SiloFixture : IAsyncLifetime
{
    private IHost? _host;

    public string Directory { get; } = TestEnvironment.NewTempDirectory();

    internal ScriptedChatModel Model => _host!.Services.GetRequiredService<ScriptedChatModel>();

    public IGrainFactory Grains => _host!.Services.GetRequiredService<IGrainFactory>();

    public IClusterClient Client => _host!.Services.GetRequiredService<IClusterClient>();

    public IEventStore Store => _host!.Services.GetRequiredService<IEventStore>();

    public IServiceProvider Services => _host!.Services;

    public const int MaxSteps = 6;

    public async ValueTask InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Agents"] = $"Data Source={Path.Combine(Directory, "agents.db")}",
            ["Orleans:SiloPort"] = TestEnvironment.FreePort().ToString(),
            ["Orleans:GatewayPort"] = TestEnvironment.FreePort().ToString(),
            ["Llm:DemoTokensPerSecond"] = "0",
            ["Llm:DemoToolLatency"] = "00:00:00",
            ["Agent:MaxSteps"] = MaxSteps.ToString(),
            ["Agent:SnapshotEvery"] = "20",
            ["Agent:MaxMessageChars"] = "1000",
            // Every test runs as alice, and many leave a run waiting: no cap on running conversations here.
            ["Agent:MaxRunningConversationsPerUser"] = "1000000",
            ["Llm:MaxAttempts"] = "2",
            ["Llm:InitialBackoff"] = "00:00:00.050",
            ["Llm:StallTimeout"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<DemoChatCompletionService>();
        builder.Services.AddSingleton<ScriptedChatModel>();
        builder.Services.AddSingleton<IChatCompletionService>(sp => sp.GetRequiredService<ScriptedChatModel>());
        builder.AddAgentSilo();
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync(TimeSpan.FromSeconds(10));
            _host.Dispose();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public IConversationGrain Conversation(string id) => Grains.GetGrain<IConversationGrain>(id);

    /// <summary>Every stored event of the conversation.</summary>
    public Task<List<EventEnvelope>> ReadAllAsync(string conversationId) => Store.ReadAllAsync(conversationId);

    /// <summary>Waits until the stored log has an event matching <paramref name="predicate"/>; returns the log up to it.</summary>
    public Task<List<EventEnvelope>> WaitForAsync(string conversationId, Func<EventEnvelope, bool> predicate, TimeSpan? timeout = null) =>
        Store.WaitForAsync(conversationId, predicate, timeout ?? TimeSpan.FromSeconds(20));

    /// <summary>Waits for the run's terminal event; returns the whole log.</summary>
    public Task<List<EventEnvelope>> WaitForEndAsync(string conversationId, TimeSpan? timeout = null) =>
        Store.WaitForEndAsync(conversationId, timeout ?? TimeSpan.FromSeconds(20));

    /// <summary>Waits until <paramref name="runs"/> runs of the conversation have ended; returns the whole log.</summary>
    public Task<List<EventEnvelope>> WaitForRunsAsync(string conversationId, int runs) =>
        TestEnvironment.EventuallyAsync(
            async () => await ReadAllAsync(conversationId) is var all && all.Count(e => EventTypes.IsTerminal(e.Type)) >= runs ? all : null,
            TimeSpan.FromSeconds(20),
            $"{runs} runs of {conversationId} ended");
}
