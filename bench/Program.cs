using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Agents;
using Agents.Bench;
using Agents.Events;
using Agents.Grains.Storage;
using Agents.Silo;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.SemanticKernel.ChatCompletion;
using Orleans.Streams;

// dotnet run -c Release --project bench -- [--quick] [--only E1,B1] [--out FILE]
var quick = args.Contains("--quick");
var only = ArgValue("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
var outFile = ArgValue("--out");
var duration = TimeSpan.FromSeconds(quick ? 3 : 15);
var results = new List<BenchResult>();

Console.WriteLine($"# Agents benchmark ({(quick ? "quick" : "full")}), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {CpuModel()}, .NET {Environment.Version}");
Console.WriteLine();

if (Wants("E1"))
{
    results.AddRange(await EventLogThroughputAsync("E1a", "100 concurrent runs, every token an event (window 0), synchronous=FULL", TimeSpan.Zero, SqliteSynchronous.Full));
    results.AddRange(await EventLogThroughputAsync("E1b", "100 concurrent runs, every token an event (window 0), synchronous=NORMAL", TimeSpan.Zero, SqliteSynchronous.Normal));
    results.AddRange(await EventLogThroughputAsync("E1c", "100 concurrent runs, 25 ms coalescing window (default), synchronous=FULL", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full));
    results.AddRange(await EventLogThroughputAsync("E1d", "100 concurrent Demo dinner runs at full speed (tools, approvals), defaults", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full, demo: true));
}

if (Wants("E2"))
{
    // A throwaway PostgreSQL server from the Debian packages with fsync and synchronous commit on: the write rate a cluster would see.
    await using var postgres = new Agents.Testing.PostgresServer { Durable = true };
    await postgres.StartAsync();
    var connectionString = await postgres.CreateDatabaseAsync("bench");
    results.AddRange(await EventLogThroughputAsync("E2a", "PostgreSQL: 100 concurrent runs, every token an event (window 0)", TimeSpan.Zero, SqliteSynchronous.Full, postgres: connectionString));
    results.AddRange(await EventLogThroughputAsync("E2b", "PostgreSQL: 100 concurrent runs, 25 ms window (default)", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full, postgres: connectionString));
}

if (Wants("B1"))
{
    results.AddRange(await BytesPerAnswerAsync("B1a", "one event per token (a model streaming at a human pace)", TimeSpan.Zero));
    results.AddRange(await BytesPerAnswerAsync("B1b", "25 ms coalescing window, model at full speed", TimeSpan.FromMilliseconds(25)));
}

Console.WriteLine("| id | figure | value | unit | verified |");
Console.WriteLine("|---|---|---:|---|---|");
foreach (var r in results)
{
    Console.WriteLine($"| {r.Id} | {r.Name} | {r.Value:0.##} | {r.Unit} | {(r.Verified ? "yes" : "NO")} |");
}

if (outFile is not null)
{
    await File.WriteAllTextAsync(outFile, JsonSerializer.Serialize(results, AgentJson.Options));
    Console.WriteLine($"\nWrote {outFile}");
}

return results.All(r => r.Verified) ? 0 : 1;

bool Wants(string id) => only is null || only.Contains(id);

string? ArgValue(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

async Task<List<BenchResult>> EventLogThroughputAsync(string id, string name, TimeSpan window, SqliteSynchronous synchronous, bool demo = false, string? postgres = null)
{
    const int conversations = 100;
    await using var silo = await BenchSilo.StartAsync(window, synchronous, demo, postgres);
    silo.Model.TokensPerAnswer = 200;
    var writer = silo.Services.GetRequiredService<EventLogWriter>();
    var ids = Enumerable.Range(0, conversations).Select(_ => Ids.NewConversationId()).ToList();
    var ended = await silo.WatchEndsAsync(ids, approve: demo);
    var prompt = demo ? "Can you order dinner for two tonight?" : "Write at length.";

    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    var (events0, commits0) = (writer.EventsWritten, writer.Commits);
    var stopwatch = Stopwatch.StartNew();
    var runs = 0;
    await Task.WhenAll(ids.Select(async conversationId =>
    {
        var grain = silo.Grains.GetGrain<IConversationGrain>(conversationId);
        await grain.CreateAsync("bench", new CreateConversation(Text: prompt));
        while (true)
        {
            await ended[conversationId].Reader.ReadAsync();
            Interlocked.Increment(ref runs);
            if (stopwatch.Elapsed >= duration)
            {
                return;
            }

            await grain.SendMessageAsync("bench", new SendMessage(demo ? "And dinner tomorrow too?" : "Go on."));
        }
    }));
    stopwatch.Stop();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
    var events = writer.EventsWritten - events0;
    var commits = writer.Commits - commits0;
    var verified = await silo.VerifyAsync(ids.Take(10));
    var seconds = stopwatch.Elapsed.TotalSeconds;
    var tokens = runs * (double)silo.Model.TokensPerAnswer;
    List<BenchResult> figures =
    [
        new(id + ".events", $"{name}: events appended", events / seconds, "events/s", verified),
        new(id + ".runs", $"{name}: runs completed", runs / seconds, "runs/s", verified),
        new(id + ".batch", $"{name}: events per group commit", commits == 0 ? 0 : (double)events / commits, "events/commit", verified),
        new(id + ".cpu", $"{name}: CPU per event (silo and model in one process)", cpu.TotalMicroseconds / Math.Max(1, events), "µs/event", verified),
    ];
    if (!demo)
    {
        figures.Insert(2, new(id + ".tokens", $"{name}: tokens streamed into the log", tokens / seconds, "tokens/s", verified));
    }

    return figures;
}

async Task<List<BenchResult>> BytesPerAnswerAsync(string id, string name, TimeSpan window)
{
    const int answers = 10;
    await using var silo = await BenchSilo.StartAsync(window, SqliteSynchronous.Full);
    silo.Model.TokensPerAnswer = 1_000;
    var conversationId = Ids.NewConversationId();
    var ended = await silo.WatchEndsAsync([conversationId]);
    var fileBefore = await silo.CheckpointedFileSizeAsync();
    var grain = silo.Grains.GetGrain<IConversationGrain>(conversationId);
    await grain.CreateAsync("bench", new CreateConversation(Text: "Write a thousand tokens."));
    await ended[conversationId].Reader.ReadAsync();
    for (var i = 1; i < answers; i++)
    {
        await grain.SendMessageAsync("bench", new SendMessage("Another thousand."));
        await ended[conversationId].Reader.ReadAsync();
    }

    var fileAfter = await silo.CheckpointedFileSizeAsync();
    var (rows, payload) = await silo.EventBytesAsync(conversationId);
    var verified = await silo.VerifyAsync([conversationId]);
    return
    [
        new(id + ".rows", $"{name}: events per 1,000-token answer", rows / (double)answers, "events", verified),
        new(id + ".payload", $"{name}: event data stored per 1,000-token answer (JSON payload + keys)", payload / (double)answers, "bytes", verified),
        new(id + ".file", $"{name}: database file growth per 1,000-token answer (incl. snapshot, transcript, indexes)", (fileAfter - fileBefore) / (double)answers, "bytes", verified),
    ];
}

static string CpuModel()
{
    try
    {
        return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
    }
    catch (IOException)
    {
        return "unknown CPU";
    }
}

internal sealed record BenchResult(string Id, string Name, double Value, string Unit, bool Verified)
{
    public double? Baseline => null;
    public double? Ratio => null;
}

/// <summary>A silo in this process, wired as the service wires it, on a fresh SQLite file, with the bench model.</summary>
internal sealed class BenchSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly string _directory;

    private BenchSilo(IHost host, string directory)
    {
        _host = host;
        _directory = directory;
    }

    public IServiceProvider Services => _host.Services;
    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();
    public BenchChatModel Model => Services.GetRequiredService<BenchChatModel>();
    private string DatabasePath => Path.Combine(_directory, "agents.db");

    public static async Task<BenchSilo> StartAsync(TimeSpan window, SqliteSynchronous synchronous, bool demo = false, string? postgres = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "agents-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Agents"] = postgres ?? $"Data Source={Path.Combine(directory, "agents.db")}",
            ["Storage:Provider"] = postgres is null ? "Sqlite" : "Postgres",
            ["Storage:Synchronous"] = synchronous.ToString(),
            ["Agent:DeltaFlushWindow"] = window.ToString(),
            ["Orleans:SiloPort"] = "21111",
            ["Orleans:GatewayPort"] = "40000",
            ["Logging:LogLevel:Default"] = "Warning",
            // The watchdog misreads a process that starts several silos one after another.
            ["Logging:LogLevel:Orleans.Runtime.Watchdog"] = "Error",
            ["Llm:DemoTokensPerSecond"] = "0",
            ["Llm:DemoToolLatency"] = "00:00:00",
            // One user runs every conversation of the bench, some of them long: no per-user caps.
            ["Agent:MaxRunningConversationsPerUser"] = "1000000",
            ["Agent:MaxEventsPerConversation"] = "1000000000",
        });
        builder.Services.AddSingleton<BenchChatModel>();
        if (!demo)
        {
            builder.Services.AddSingleton<IChatCompletionService>(sp => sp.GetRequiredService<BenchChatModel>());
        }

        builder.AddAgentSilo();
        var host = builder.Build();
        await host.StartAsync();
        return new BenchSilo(host, directory);
    }

    /// <summary>A channel per conversation that gets an item whenever one of its runs ends, from the conversation's stream.</summary>
    public async Task<Dictionary<string, Channel<bool>>> WatchEndsAsync(IEnumerable<string> ids, bool approve = false)
    {
        var client = Services.GetRequiredService<IClusterClient>();
        var provider = client.GetStreamProvider(AgentNames.StreamProvider);
        var channels = new Dictionary<string, Channel<bool>>();
        foreach (var id in ids)
        {
            var channel = Channel.CreateUnbounded<bool>();
            channels[id] = channel;
            await provider.GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, id))
                .SubscribeAsync((batch, token) =>
                {
                    foreach (var e in batch)
                    {
                        if (EventTypes.IsTerminal(e.Type))
                        {
                            channel.Writer.TryWrite(true);
                        }
                        else if (approve && e.Data is InputRequested request)
                        {
                            // Answer as a user would, from outside the stream callback.
                            _ = Task.Run(() => Grains.GetGrain<IConversationGrain>(id).RespondAsync("bench", new Respond(request.RequestId, Approved: true)));
                        }
                    }

                    return Task.CompletedTask;
                });
        }

        return channels;
    }

    /// <summary>Checks the stored logs: gapless seqs, deltas that add up to their message, one end per run.</summary>
    public async Task<bool> VerifyAsync(IEnumerable<string> ids)
    {
        var store = Services.GetRequiredService<IEventStore>();
        foreach (var id in ids)
        {
            var events = await store.ReadEventsAsync(id, 0, 1_000_000);
            var deltas = new Dictionary<string, StringBuilder>();
            for (var i = 0; i < events.Count; i++)
            {
                if (events[i].Seq != i + 1)
                {
                    return false;
                }

                switch (events[i].Data)
                {
                    case MessageDeltaStreamed d:
                        (deltas.TryGetValue(d.MessageId, out var sb) ? sb : deltas[d.MessageId] = new StringBuilder()).Append(d.Text);
                        break;
                    case AssistantMessageCompleted a when !deltas.TryGetValue(a.MessageId, out var text) || text.ToString() != a.Text:
                        return false;
                }
            }

            if (events.Count(e => e.Type == EventTypes.RunStarted) != events.Count(e => EventTypes.IsTerminal(e.Type)))
            {
                return false;
            }
        }

        return true;
    }

    public async Task<long> CheckpointedFileSizeAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        await command.ExecuteNonQueryAsync();
        return new FileInfo(DatabasePath).Length;
    }

    public async Task<(long Rows, long Bytes)> EventBytesAsync(string conversationId)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText =
            """
            SELECT COUNT(*), SUM(length(data) + length(conversation_id) + length(type) + COALESCE(length(run_id), 0) + 16)
            FROM events WHERE conversation_id = $id AND type <> 'message.user';
            """;
        command.Parameters.AddWithValue("$id", conversationId);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(TimeSpan.FromSeconds(10));
        _host.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
