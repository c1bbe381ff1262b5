using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Agents;
using Agents.Bench;
using Agents.Bench.Streaming;
using Agents.Events;
using Agents.Grains.Storage;
using Agents.Silo;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.SemanticKernel.ChatCompletion;
using Orleans.Streams;

// dotnet run -c Release --project bench -- [--quick] [--only S1,R1,C1,E1] [--warm-up 50x200] [--out FILE]
if (args.Length > 0 && args[0] is Baselines.BareRole or Baselines.NoLogRole)
{
    // A baseline server, started by the bench itself as a child process.
    return await Baselines.RunAsync(args[0], args[1..]);
}

var quick = args.Contains("--quick");
var only = ArgValue("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
var outFile = ArgValue("--out");
var duration = TimeSpan.FromSeconds(quick ? 3 : 15);
var results = new List<BenchResult>();

Console.WriteLine($"# Agents benchmark ({(quick ? "quick" : "full")}), {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {CpuModel()}, .NET {Environment.Version}");
Console.WriteLine();

var work = Path.Combine(Path.GetTempPath(), "agents-bench", Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(work);
if (args.Contains("--soak"))
{
    // Issue 7's soak: `--soak [--minutes 30] [--users 40]`, nothing else.
    var minutes = double.Parse(ArgValue("--minutes") ?? "30", System.Globalization.CultureInfo.InvariantCulture);
    var users = int.Parse(ArgValue("--users") ?? "40", System.Globalization.CultureInfo.InvariantCulture);
    only = [];
    results.AddRange(await new SoakBench(TimeSpan.FromMinutes(minutes), users, work).RunAsync(CancellationToken.None));
}

// One throwaway PostgreSQL server from the Debian packages for the whole run, flushing like a production one
// (fsync and synchronous commit on); each use gets a database of its own.
await using var postgres = new Agents.Testing.PostgresServer { Durable = true };
var section = Stopwatch.StartNew();
results.AddRange(await new StreamingBench(quick, Wants, work, postgres, WarmUpShape()).RunAsync(CancellationToken.None));
Console.WriteLine($"(streaming figures took {section.Elapsed.TotalSeconds:0} s)");

if (Wants("C1"))
{
    section.Restart();
    results.AddRange(await MemoryPerConversationAsync());
    results.AddRange(await StatementsPerAnswerAsync());
    Console.WriteLine($"(C1 took {section.Elapsed.TotalSeconds:0} s)");
}

// The event log's own throughput (issues 2 and 4): full runs only, or when asked for.
if (Wants("E1") && (!quick || only is not null))
{
    results.AddRange(await EventLogThroughputAsync("E1a", "100 concurrent runs, every token an event (window 0), synchronous=FULL", TimeSpan.Zero, SqliteSynchronous.Full));
    results.AddRange(await EventLogThroughputAsync("E1b", "100 concurrent runs, every token an event (window 0), synchronous=NORMAL", TimeSpan.Zero, SqliteSynchronous.Normal));
    results.AddRange(await EventLogThroughputAsync("E1c", "100 concurrent runs, 25 ms coalescing window (default), synchronous=FULL", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full));
    results.AddRange(await EventLogThroughputAsync("E1d", "100 concurrent Demo dinner runs at full speed (tools, approvals), defaults", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full, demo: true));
}

if (Wants("E2") && (!quick || only is not null))
{
    var connectionString = await postgres.CreateDatabaseAsync("bench");
    results.AddRange(await EventLogThroughputAsync("E2a", "PostgreSQL: 100 concurrent runs, every token an event (window 0)", TimeSpan.Zero, SqliteSynchronous.Full, postgres: connectionString));
    results.AddRange(await EventLogThroughputAsync("E2b", "PostgreSQL: 100 concurrent runs, 25 ms window (default)", TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full, postgres: connectionString));
}

// Sub-agents (issue 16): full runs only, or when asked for.
if (Wants("A1") && (!quick || only is not null))
{
    results.AddRange(await SubagentFanOutAsync());
}

if (Wants("B1") || Wants("C1"))
{
    results.AddRange(await BytesPerAnswerAsync("B1a", "one event per token (a model streaming at a human pace)", TimeSpan.Zero));
    results.AddRange(await BytesPerAnswerAsync("B1b", "25 ms coalescing window, model at full speed", TimeSpan.FromMilliseconds(25)));
}

Console.WriteLine();
Console.WriteLine("| id | figure | value | unit | bare hub | ratio | verified |");
Console.WriteLine("|---|---|---:|---|---:|---:|---|");
foreach (var r in results)
{
    Console.WriteLine($"| {r.Id} | {r.Name} | {r.Value:#,0.##} | {r.Unit} | {r.Baseline:#,0.##} | {r.Ratio:0.00} | {(r.Verified ? "yes" : "NO")} |");
}

var missing = only is null && !args.Contains("--soak") ? ExpectedFigures().Except(results.Select(r => r.Id)).ToList() : [];
foreach (var id in missing)
{
    Console.WriteLine($"MISSING figure {id}");
}

foreach (var r in results.Where(r => r.Verified && !double.IsFinite(r.Value)))
{
    Console.WriteLine($"NO VALUE for {r.Id}");
}

if (outFile is not null)
{
    var json = new JsonSerializerOptions(AgentJson.Options) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals, WriteIndented = true };
    await File.WriteAllTextAsync(outFile, JsonSerializer.Serialize(results, json));
    Console.WriteLine($"\nWrote {outFile}");
}

return results.All(r => r.Verified && double.IsFinite(r.Value)) && missing.Count == 0 ? 0 : 1;

// Every figure issue 6 asks for: a run that lacks one fails, as one that fails a verification does.
static IEnumerable<string> ExpectedFigures()
{
    foreach (var target in new[] { "nolog", "sqlite", "postgres" })
    {
        yield return $"S1.{target}.rate";
        yield return $"S1.{target}.first";
        yield return $"S1.{target}.cpu";
        foreach (var shape in new[] { "S2", "S3", "S4", "S5" })
        {
            foreach (var figure in new[] { "time", "rate", "p50", "p90", "p99", "max", "cpu" })
            {
                yield return $"{shape}.{target}.{figure}";
            }
        }
    }

    foreach (var id in new[] { "R1.activation", "R1.replay", "R2.resume", "R2.lost", "C1.idle", "C1.running", "C1.sql.fast.pg", "C1.sql.every.pg", "B1a.payload", "B1b.payload" })
    {
        yield return id;
    }
}

bool Wants(string id) => only is null || only.Contains(id) || only.Contains(id[..2]);

// `--warm-up 50x200`: conversations × chunks streamed before the measured shapes (StreamingBench.WarmUp).
Shape? WarmUpShape()
{
    if (ArgValue("--warm-up") is not { } value)
    {
        return null;
    }

    var parts = value.Split('x');
    return parts.Length == 2 && int.TryParse(parts[0], out var conversations) && int.TryParse(parts[1], out var chunks) && conversations > 0 && chunks > 0
        ? new Shape("warm-up", conversations, chunks, TimeSpan.FromMilliseconds(2))
        : throw new ArgumentException($"--warm-up takes CONVERSATIONSxCHUNKS, such as 50x200, not '{value}'.");
}

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

// From a parent's start_subagents call to its result, with 1, 3 and 20 children of 200 tokens each at full speed, and
// a lone conversation's run with the same answer: the median of a few tries each, from the stored timestamps (ms).
async Task<List<BenchResult>> SubagentFanOutAsync()
{
    const int tries = 5;
    await using var silo = await BenchSilo.StartAsync(TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full);
    var store = silo.Services.GetRequiredService<IEventStore>();
    var checkedIds = new List<string>();

    async Task<double> RunAsync(string text, Func<List<EventEnvelope>, double> measure)
    {
        var id = Ids.NewConversationId();
        var ended = await silo.WatchEndsAsync([id]);
        await silo.Grains.GetGrain<IConversationGrain>(id).CreateAsync("bench", new CreateConversation(Text: text));
        await ended[id].Reader.ReadAsync();
        checkedIds.Add(id);
        return measure([.. await store.ReadEventsAsync(id, 0, ContractLimits.MaxEventsPage)]);
    }

    static double Between(List<EventEnvelope> log, string from, string to) =>
        (log.First(e => e.Type == to).At - log.First(e => e.Type == from).At).TotalMilliseconds;

    static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    var results = new List<BenchResult>();
    var lone = new List<double>();
    for (var i = 0; i < tries; i++)
    {
        lone.Add(await RunAsync("Write at length.", log => Between(log, EventTypes.RunStarted, EventTypes.RunCompleted)));
    }

    var byFanOut = new Dictionary<int, double>();
    foreach (var children in new[] { 1, 3, 20 })
    {
        var times = new List<double>();
        for (var i = 0; i < tries; i++)
        {
            times.Add(await RunAsync($"{BenchChatModel.FanOut}{children}", log => Between(log, EventTypes.ToolCall, EventTypes.ToolResult)));
        }

        byFanOut[children] = Median(times);
    }

    var verified = await silo.VerifyAsync(checkedIds);
    results.Add(new("A1.lone", "a lone conversation's run (one 200-token answer): run.started to run.completed", Median(lone), "ms", verified));
    foreach (var (children, time) in byFanOut)
    {
        results.Add(new($"A1.fanout{children}", $"start_subagents with {children} children of 200 tokens each: tool.call to tool.result", time, "ms", verified));
    }

    results.Add(new("A1.overhead", "a child over a lone conversation (A1.fanout1 - A1.lone)", byFanOut[1] - Median(lone), "ms", verified));
    return results;
}

async Task<List<BenchResult>> BytesPerAnswerAsync(string id, string name, TimeSpan window)
{
    var answers = quick ? 3 : 10;
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

async Task<List<BenchResult>> MemoryPerConversationAsync()
{
    // Measured in this process (managed heap after a full collection), where the silo runs with the bench model.
    var idle = quick ? 2_000 : 10_000;
    var running = quick ? 100 : 1_000;
    await using var silo = await BenchSilo.StartAsync(TimeSpan.FromMilliseconds(25), SqliteSynchronous.Full);
    await silo.Grains.GetGrain<IConversationGrain>(Ids.NewConversationId()).CreateAsync("bench", new CreateConversation(Title: "warm-up"));
    var before = ManagedHeap();
    var ids = Enumerable.Range(0, idle).Select(_ => Ids.NewConversationId()).ToList();
    await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 32 },
        async (id, _) => await silo.Grains.GetGrain<IConversationGrain>(id).CreateAsync("bench", new CreateConversation(Title: "idle")));
    var afterIdle = ManagedHeap();
    var activations = await silo.ActivationCountAsync();

    // Runs that stream a token every 100 ms for minutes: measured while all of them are mid-answer.
    silo.Model.TokensPerAnswer = 10_000;
    silo.Model.TokenDelay = TimeSpan.FromMilliseconds(100);
    var runningIds = Enumerable.Range(0, running).Select(_ => Ids.NewConversationId()).ToList();
    await Parallel.ForEachAsync(runningIds, new ParallelOptions { MaxDegreeOfParallelism = 32 },
        async (id, _) => await silo.Grains.GetGrain<IConversationGrain>(id).CreateAsync("bench", new CreateConversation(Text: "Stream slowly.")));
    await Task.Delay(TimeSpan.FromSeconds(quick ? 1.5 : 3));
    var afterRunning = ManagedHeap();
    var streaming = 0;
    foreach (var id in runningIds)
    {
        streaming += (await silo.Grains.GetGrain<IConversationGrain>(id).GetInfoAsync("bench")).Status == ConversationStatus.Running ? 1 : 0;
    }

    await Parallel.ForEachAsync(runningIds, async (id, _) => await silo.Grains.GetGrain<IConversationGrain>(id).CancelAsync("bench"));
    var verified = activations >= idle && streaming == running;
    Console.WriteLine($"  C1 {activations} activations, {streaming} runs streaming");
    return
    [
        new("C1.idle", $"C1 managed memory per idle activated conversation ({idle:N0} activated)", (afterIdle - before) / (double)idle, "bytes", verified),
        new("C1.running", $"C1 managed memory per running conversation, mid-answer, on top of its activation ({running:N0} running)", (afterRunning - afterIdle) / (double)running, "bytes", verified),
    ];
}

static long ManagedHeap()
{
    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    GC.WaitForPendingFinalizers();
    return GC.GetTotalMemory(forceFullCollection: true);
}

async Task<List<BenchResult>> StatementsPerAnswerAsync()
{
    // SQL statements sent to PostgreSQL, as counted by Npgsql's own metrics; transactions on SQLite.
    var answers = quick ? 2 : 5;
    var results = new List<BenchResult>();
    foreach (var (id, name, window, delay) in new[]
    {
        ("C1.sql.fast", "a model at full speed", TimeSpan.FromMilliseconds(25), TimeSpan.Zero),
        ("C1.sql.paced", "a model streaming a token every 5 ms", TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(5)),
        ("C1.sql.every", "every token its own event (window 0, the worst case)", TimeSpan.Zero, TimeSpan.Zero),
    })
    {
        if (quick && id == "C1.sql.paced")
        {
            // Five seconds per answer: the full run has it.
            continue;
        }

        foreach (var pg in quick ? [true] : new[] { true, false })
        {
            await using var silo = await BenchSilo.StartAsync(window, SqliteSynchronous.Full, postgres: pg ? await postgres.CreateDatabaseAsync($"c1{Guid.NewGuid():N}"[..12]) : null);
            silo.Model.TokensPerAnswer = 1_000;
            silo.Model.TokenDelay = delay;
            var conversationId = Ids.NewConversationId();
            var ended = await silo.WatchEndsAsync([conversationId]);
            var grain = silo.Grains.GetGrain<IConversationGrain>(conversationId);
            await grain.CreateAsync("bench", new CreateConversation(Title: "statements"));
            var writer = silo.Services.GetRequiredService<EventLogWriter>();
            using var counter = new NpgsqlCommandCounter();
            var commits = writer.Commits;
            for (var i = 0; i < answers; i++)
            {
                await grain.SendMessageAsync("bench", new SendMessage("A thousand tokens, please."));
                await ended[conversationId].Reader.ReadAsync();
            }

            var verified = await silo.VerifyAsync([conversationId]);
            results.Add(pg
                ? new($"{id}.pg", $"C1 SQL statements per 1,000-token answer, {name}, PostgreSQL", counter.Commands / (double)answers, "statements", verified)
                : new($"{id}.sqlite", $"C1 transactions per 1,000-token answer, {name}, SQLite", (writer.Commits - commits) / (double)answers, "transactions", verified));
        }
    }

    return results;
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

/// <summary>One figure; <see cref="Baseline"/> is the bare hub's figure for the same shape, <see cref="Ratio"/> ours over it.</summary>
internal sealed record BenchResult(string Id, string Name, double Value, string Unit, double? Baseline, double? Ratio, bool Verified)
{
    public BenchResult(string id, string name, double value, string unit, bool verified)
        : this(id, name, value, unit, null, null, verified)
    {
    }
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
            // Free ports, not fixed ones: 40000 is in Linux's ephemeral range, where a client socket may hold it.
            ["Orleans:SiloPort"] = Agents.Testing.TestEnvironment.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:GatewayPort"] = Agents.Testing.TestEnvironment.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
            // The watchdog misreads a process that starts several silos one after another.
            ["Logging:LogLevel:Orleans.Runtime.Watchdog"] = "Error",
            ["Llm:DemoTokensPerSecond"] = "0",
            ["Llm:DemoToolLatency"] = "00:00:00",
            // One user runs every conversation of the bench, some of them long: no per-user caps.
            ["Agent:MaxRunningConversationsPerUser"] = "1000000",
            ["Agent:MaxEventsPerConversation"] = "1000000000",
            ["Agent:MaxSubagentsPerCall"] = "20",
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

    public async Task<int> ActivationCountAsync()
    {
        var management = Grains.GetGrain<IManagementGrain>(0);
        var statistics = await management.GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains("ConversationGrain", StringComparison.Ordinal)).Sum(s => s.ActivationCount);
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

/// <summary>Counts the commands Npgsql sends, from its <c>db.client.operation.duration</c> metric.</summary>
internal sealed class NpgsqlCommandCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _commands;

    public NpgsqlCommandCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Npgsql" && instrument.Name == "db.client.operation.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _commands));
        _listener.Start();
    }

    public long Commands => Interlocked.Read(ref _commands);

    public void Dispose() => _listener.Dispose();
}
