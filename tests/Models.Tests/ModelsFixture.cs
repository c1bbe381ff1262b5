using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Agent;
using Agents.Grains.Storage;
using Agents.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel.ChatCompletion;

[assembly: AssemblyFixture(typeof(Agents.Models.Tests.ModelsFixture))]

namespace Agents.Models.Tests;

/// <summary>
/// One real silo for the assembly, wired as the service wires it (<c>AddAgentSilo</c>) on a real SQLite file,
/// with <c>Llm:Provider=OpenAI</c> pointed at our fake OpenAI server over real HTTP, and an MCP server of our own.
/// Every log entry of the silo is kept in memory.
/// </summary>
public sealed class ModelsFixture : IAsyncLifetime
{
    public const string User = "alice";

    /// <summary>Attempts per model step; the fault tests count requests against it.</summary>
    public const int MaxAttempts = 3;

    // Long enough that a loaded CI machine (four test projects on two cores) still gets its first chunk in time;
    // short against the fake's 30 s stalls.
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(3);

    private IHost? _host;

    /// <summary>A fake key in the shape of a real one; it must never show up in the log or the stored events.</summary>
    public string ApiKey { get; } = "sk-test-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    /// <summary>The notes MCP server's token, sent as a configured header; a secret like the API key.</summary>
    public string McpToken { get; } = "mcp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "agents-models-tests", Guid.NewGuid().ToString("N"));

    public FakeOpenAIServer Model { get; private set; } = null!;

    public NotesMcpServer Notes { get; private set; } = null!;

    public InMemoryLoggerProvider Logs { get; } = new();

    public IServiceProvider Services => _host!.Services;

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public IEventStore Store => Services.GetRequiredService<IEventStore>();

    public async ValueTask InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        // The fake server insists on the key, so every passing test also shows the key was sent.
        Model = await FakeOpenAIServer.StartAsync(new FakeOpenAIOptions { ApiKey = ApiKey });
        Notes = await NotesMcpServer.StartAsync();

        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Agents"] = $"Data Source={Path.Combine(Directory, "agents.db")}",
            ["Orleans:SiloPort"] = FreePort().ToString(),
            ["Orleans:GatewayPort"] = FreePort().ToString(),
            ["Llm:Provider"] = "OpenAI",
            // Every test runs as one user: no cap on running conversations here.
            ["Agent:MaxRunningConversationsPerUser"] = "1000000",
            ["Llm:Endpoint"] = Model.Endpoint.ToString(),
            ["Llm:Model"] = "fake",
            ["Llm:ApiKey"] = ApiKey,
            ["Llm:MaxAttempts"] = MaxAttempts.ToString(),
            ["Llm:InitialBackoff"] = InitialBackoff.ToString(),
            ["Llm:MaxBackoff"] = "00:00:05",
            ["Llm:StallTimeout"] = StallTimeout.ToString(),
            ["Llm:CallTimeout"] = "00:00:30",
            ["Llm:DemoToolLatency"] = "00:00:00",
            // Every chunk is its own delta, so what was stored before a fault does not depend on timing.
            ["Agent:DeltaFlushWindow"] = "00:00:00",
            ["Agent:ToolTimeout"] = ToolTimeout.ToString(),
            ["Agent:RequireApproval:0"] = "make_reservation",
            ["Agent:RequireApproval:1"] = "delete_note",
            ["Mcp:ConnectTimeout"] = "00:00:05",
            ["Mcp:Servers:notes:Url"] = Notes.Endpoint.ToString(),
            ["Mcp:Servers:notes:Headers:Authorization"] = $"Bearer {McpToken}",
            // A stdio server: a child process, configured by command and arguments.
            ["Mcp:Servers:text:Command"] = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            ["Mcp:Servers:text:Arguments:0"] = Path.Combine(AppContext.BaseDirectory, "Agents.FakeOpenAI.dll"),
            ["Mcp:Servers:text:Arguments:1"] = FakeMcpStdioServer.Argument,
            // Nothing listens there: the silo must start anyway, without that server's tools.
            ["Mcp:Servers:offline:Url"] = $"http://127.0.0.1:{FreePort()}/mcp",
            // fetch_url, allowed to read the tests' own sites on 127.0.0.1 and nothing else internal.
            ["Tools:FetchUrl:Enabled"] = "true",
            ["Tools:FetchUrl:AllowedHosts:0"] = "127.0.0.1",
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(Logs);
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFilter("Orleans", LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Orleans", LogLevel.Information);
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

        // MODELS_TESTS_LOG=path keeps the silo's log of the run, for reading a failure.
        if (Environment.GetEnvironmentVariable("MODELS_TESTS_LOG") is { Length: > 0 } logPath)
        {
            await File.WriteAllLinesAsync(logPath, Logs.Entries.Select(e => e.ToString()));
        }

        await Notes.DisposeAsync();
        await Model.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public IConversationGrain Conversation(string id) => Grains.GetGrain<IConversationGrain>(id);

    /// <summary>Starts a conversation whose first message carries the script's marker; returns its id.</summary>
    public async Task<string> StartAsync(FakeScript script, string text = "Hello")
    {
        var id = Ids.NewConversationId();
        await Conversation(id).CreateAsync(User, new CreateConversation(Text: $"{text} {script.Marker}"));
        return id;
    }

    public async Task<List<EventEnvelope>> ReadAllAsync(string conversationId)
    {
        var all = new List<EventEnvelope>();
        while (true)
        {
            var page = await Store.ReadEventsAsync(conversationId, all.Count == 0 ? 0 : all[^1].Seq, 500);
            all.AddRange(page);
            if (page.Count < 500)
            {
                return all;
            }
        }
    }

    /// <summary>Waits until the stored log has an event matching <paramref name="predicate"/>; returns the log up to it.</summary>
    public async Task<List<EventEnvelope>> WaitForAsync(string conversationId, Func<EventEnvelope, bool> predicate, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var events = await ReadAllAsync(conversationId);
            var index = events.FindIndex(e => predicate(e));
            if (index >= 0)
            {
                return events[..(index + 1)];
            }

            try
            {
                await Task.Delay(20, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"Timed out after {timeout} waiting in {conversationId}; the log: {string.Join(", ", events.Select(e => e.Type))}");
            }
        }
    }

    /// <summary>Waits for the run's terminal event; returns the whole log.</summary>
    public async Task<List<EventEnvelope>> WaitForEndAsync(string conversationId, TimeSpan? timeout = null)
    {
        await WaitForAsync(conversationId, e => EventTypes.IsTerminal(e.Type), timeout ?? TimeSpan.FromSeconds(20));
        return await ReadAllAsync(conversationId);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
