using System.Diagnostics;
using Agents.Api.Conversations;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Testing;
using Agents.Client;

namespace Agents.Bench.Streaming;

/// <summary>A load shape: conversations streaming at once, chunks per answer, the model's pace.</summary>
internal sealed record Shape(string Id, int Conversations, int Chunks, TimeSpan Interval)
{
    public string Title => Interval == TimeSpan.Zero
        ? $"{Conversations} × {Chunks} chunks, no delay"
        : $"{Conversations} × {Chunks} chunks every {Interval.TotalMilliseconds:0} ms";
}

/// <summary>What the clients saw of one shape on one target.</summary>
internal sealed record ShapeMeasurement(
    Shape Shape, string Target, int Chunks, TimeSpan Wall, double ChunksPerSecond, double FirstChunkMs,
    double P50, double P90, double P99, double Max, double CpuMicrosPerChunk, string? Error);

/// <summary>
/// S1–S5, R1 and R2 over real processes and real SignalR clients: the service on a single node (SQLite) and as a
/// cluster (PostgreSQL), beside the two baselines, with the same fake model for all.
/// </summary>
internal sealed class StreamingBench(bool quick, Func<string, bool> wants, string workDirectory, PostgresServer postgres, Shape? warmUp = null)
{
    private const string User = "bench";

    /// <summary>
    /// Streamed through each target before its shapes are measured, a chunk every 2 ms: JIT (each target's fresh process
    /// starts with unoptimized code, and .NET promotes a hot method only after it ran a while) and pools. Full runs
    /// default to 50 × 200 (10,000 chunks, about a second); a shorter one leaves more tier-0 code and JIT work in the first
    /// shapes' figures. Some stays even so (docs/benchmarks.md profiles it).
    /// </summary>
    public Shape WarmUp { get; } = warmUp ?? new("warm-up", quick ? 10 : 50, quick ? 50 : 200, TimeSpan.FromMilliseconds(2));

    public IReadOnlyList<Shape> Shapes { get; } = quick
        ?
        [
            new("S1", 1, 2_000, TimeSpan.Zero),
            new("S2", 20, 50, TimeSpan.FromMilliseconds(20)),
            new("S3", 20, 20, TimeSpan.FromMilliseconds(50)),
            new("S4", 50, 20, TimeSpan.FromMilliseconds(50)),
            new("S5", 100, 20, TimeSpan.FromMilliseconds(20)),
        ]
        :
        [
            new("S1", 1, 2_000, TimeSpan.Zero),
            new("S2", 50, 200, TimeSpan.FromMilliseconds(20)),
            new("S3", 50, 200, TimeSpan.FromMilliseconds(50)),
            new("S4", 500, 100, TimeSpan.FromMilliseconds(50)),
            new("S5", 1_000, 100, TimeSpan.FromMilliseconds(20)),
        ];

    public async Task<List<BenchResult>> RunAsync(CancellationToken cancellationToken)
    {
        var results = new List<BenchResult>();
        var shapes = Shapes.Where(s => wants(s.Id)).ToList();
        await using var model = await FakeOpenAIServer.StartAsync(cancellationToken: cancellationToken);
        var measured = new List<ShapeMeasurement>();

        if (shapes.Count > 0)
        {
            foreach (var start in new Func<FakeOpenAIServer, CancellationToken, Task<StreamTarget>>[] { StartBareAsync, StartNoLogAsync, StartSingleNodeAsync })
            {
                var clock = Stopwatch.StartNew();
                await using var target = await start(model, cancellationToken);
                Console.WriteLine($"{target.Description}: started in {clock.Elapsed.TotalSeconds:0.0} s");
                measured.AddRange(await MeasureShapesAsync(target, model, shapes, cancellationToken));
                Console.WriteLine($"{target.Description}: done in {clock.Elapsed.TotalSeconds:0.0} s");
            }
        }

        if (wants("I1"))
        {
            await using var single = await StartSingleNodeAsync(model, cancellationToken);
            results.AddRange(await IdleAsync(single, cancellationToken));
        }

        if (shapes.Count > 0 || wants("R2") || wants("I1"))
        {
            var clock = Stopwatch.StartNew();
            await using var cluster = await StartClusterAsync(model, await postgres.CreateDatabaseAsync("bench", cancellationToken), silos: quick ? 2 : 3, cancellationToken);
            Console.WriteLine($"{cluster.Description}: started in {clock.Elapsed.TotalSeconds:0.0} s");
            if (wants("I1"))
            {
                results.AddRange(await IdleAsync(cluster, cancellationToken));
            }

            measured.AddRange(await MeasureShapesAsync(cluster, model, shapes, cancellationToken));
            Console.WriteLine($"{cluster.Description}: done in {clock.Elapsed.TotalSeconds:0.0} s");
            if (wants("R2"))
            {
                clock.Restart();
                results.AddRange(await FailoverAsync(cluster, model, cancellationToken));
                Console.WriteLine($"(R2 took {clock.Elapsed.TotalSeconds:0.0} s)");
            }
        }

        results.InsertRange(0, Report(measured));
        if (wants("R1"))
        {
            var clock = Stopwatch.StartNew();
            results.AddRange(await ReplayAsync(model, cancellationToken));
            Console.WriteLine($"(R1 took {clock.Elapsed.TotalSeconds:0.0} s)");
        }

        return results;
    }

    private async Task<List<ShapeMeasurement>> MeasureShapesAsync(StreamTarget target, FakeOpenAIServer model, IReadOnlyList<Shape> shapes, CancellationToken cancellationToken)
    {
        var measured = new List<ShapeMeasurement>();
        if (shapes.Count == 0)
        {
            return measured;
        }

        // One connection per conversation of the largest shape, made once; each shape uses as many as it needs.
        var clients = new IStreamClient[shapes.Max(s => s.Conversations)];
        await Parallel.ForEachAsync(Enumerable.Range(0, clients.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (i, ct) => clients[i] = await target.ConnectAsync(ct));
        try
        {
            await MeasureAsync(target, model, WarmUp with { Conversations = Math.Min(WarmUp.Conversations, clients.Length) }, clients, cancellationToken);
            foreach (var shape in shapes)
            {
                var m = await MeasureAsync(target, model, shape, clients, cancellationToken);
                Console.WriteLine($"  {shape.Id} {target.Name,-8} {m.ChunksPerSecond,9:0} chunks/s  first {m.FirstChunkMs,6:0.0}  p50 {m.P50,6:0.0}  p99 {m.P99,7:0.0}  max {m.Max,7:0.0} ms  cpu {m.CpuMicrosPerChunk,6:0.0} µs/chunk{(m.Error is null ? "" : "  ERROR " + m.Error)}");
                measured.Add(m);
            }
        }
        finally
        {
            await Task.WhenAll(clients.Where(c => c is not null).Select(c => c.DisposeAsync().AsTask()));
        }

        // The servers' own metrics (commit sizes and durations, model timings, Orleans), kept for looking into a figure.
        using var http = new HttpClient();
        foreach (var server in target.Servers)
        {
            try
            {
                var metrics = await http.GetStringAsync(new Uri(server.BaseAddress, "/metrics"), cancellationToken);
                await File.WriteAllTextAsync(Path.ChangeExtension(server.LogPath, ".metrics.txt"), metrics, cancellationToken);
            }
            catch (HttpRequestException)
            {
                // The baselines serve no metrics.
            }
        }

        return measured;
    }

    /// <summary>One client connection per conversation, all streaming at once; latency from the model's send to the client.</summary>
    private static async Task<ShapeMeasurement> MeasureAsync(
        StreamTarget target, FakeOpenAIServer model, Shape shape, IStreamClient[] connected, CancellationToken cancellationToken)
    {
        var clients = connected[..shape.Conversations];
        var replies = clients.Select(_ => FakeReply.Stream().StampedText(shape.Chunks, shape.Interval)).ToArray();
        var prompts = replies.Select(r => $"{model.NewScript().Then(r).Marker} Stream {shape.Chunks} chunks.").ToArray();
        var stamps = clients.Select(_ => new ChunkStamps()).ToArray();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));

        var cpu = target.ServerCpu;
        var wall = Stopwatch.StartNew();
        var outcomes = await Task.WhenAll(clients.Select((c, i) => Task.Run(() => c.StreamAsync(prompts[i], stamps[i], timeout.Token), timeout.Token)));
        wall.Stop();
        cpu = target.ServerCpu - cpu;

        string? error = null;
        for (var i = 0; i < outcomes.Length && error is null; i++)
        {
            error = outcomes[i].Error ?? stamps[i].Error
                ?? (stamps[i].Count != shape.Chunks ? $"{stamps[i].Count} of {shape.Chunks} chunks arrived" : null)
                ?? (outcomes[i].Text != replies[i].SentText ? "the text the client assembled is not what the model sent" : null);
        }

        // Steady state apart from the first chunk: a conversation's first chunk also pays for the call that started
        // it (creating the run, the first commit, a cold stream), and is reported as its own figure.
        var latencies = stamps.SelectMany(s => s.LatenciesMs.Skip(1)).Order().ToList();
        var firsts = stamps.Where(s => s.LatenciesMs.Count > 0).Select(s => s.LatenciesMs[0]).Order().ToList();
        var chunks = stamps.Sum(s => s.Count);
        var span = Stopwatch.GetElapsedTime(stamps.Min(s => s.FirstSentAt), stamps.Max(s => s.LastReceivedAt));
        return new ShapeMeasurement(
            shape, target.Name, chunks, wall.Elapsed, chunks / span.TotalSeconds, Percentile(firsts, 0.50),
            Percentile(latencies, 0.50), Percentile(latencies, 0.90), Percentile(latencies, 0.99), latencies.LastOrDefault(),
            cpu.TotalMicroseconds / Math.Max(1, chunks), error);
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>Figures per shape and target, each with the bare hub's figure as its baseline.</summary>
    private static List<BenchResult> Report(List<ShapeMeasurement> measured)
    {
        var results = new List<BenchResult>();
        foreach (var m in measured.Where(m => m.Target != "bare"))
        {
            var bare = measured.FirstOrDefault(b => b.Target == "bare" && b.Shape.Id == m.Shape.Id);
            var name = $"{m.Shape.Id} {m.Shape.Title}, {TargetTitle(m.Target)}";
            var ok = m.Error is null;
            if (m.Shape.Id == "S1")
            {
                results.Add(Figure($"S1.{m.Target}.rate", $"{name}: chunks/s delivered", m.ChunksPerSecond, "chunks/s", bare?.ChunksPerSecond, ok));
                results.Add(Figure($"S1.{m.Target}.first", $"{name}: first chunk, model to client", m.FirstChunkMs, "ms", bare?.FirstChunkMs, ok));
                results.Add(Figure($"S1.{m.Target}.cpu", $"{name}: server CPU per delivered chunk", m.CpuMicrosPerChunk, "µs/chunk", bare?.CpuMicrosPerChunk, ok));
                continue;
            }

            results.Add(Figure($"{m.Shape.Id}.{m.Target}.time", $"{name}: total time", m.Wall.TotalSeconds, "s", bare?.Wall.TotalSeconds, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.rate", $"{name}: chunks/s delivered", m.ChunksPerSecond, "chunks/s", bare?.ChunksPerSecond, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.first", $"{name}: first chunk, median over conversations", m.FirstChunkMs, "ms", bare?.FirstChunkMs, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.p50", $"{name}: latency p50 after the first chunk", m.P50, "ms", bare?.P50, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.p90", $"{name}: latency p90", m.P90, "ms", bare?.P90, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.p99", $"{name}: latency p99", m.P99, "ms", bare?.P99, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.max", $"{name}: latency max", m.Max, "ms", bare?.Max, ok));
            results.Add(Figure($"{m.Shape.Id}.{m.Target}.cpu", $"{name}: server CPU per delivered chunk", m.CpuMicrosPerChunk, "µs/chunk", bare?.CpuMicrosPerChunk, ok));
        }

        // The baseline's own figures, so the table shows the ceiling beside the ratios.
        foreach (var b in measured.Where(m => m.Target == "bare"))
        {
            var name = $"{b.Shape.Id} {b.Shape.Title}, {TargetTitle("bare")}";
            var ok = b.Error is null;
            results.Add(new BenchResult($"{b.Shape.Id}.bare.rate", $"{name}: chunks/s delivered", b.ChunksPerSecond, "chunks/s", null, null, ok));
            results.Add(new BenchResult($"{b.Shape.Id}.bare.{(b.Shape.Id == "S1" ? "first" : "p99")}", $"{name}: {(b.Shape.Id == "S1" ? "first chunk" : "latency p99")}", b.Shape.Id == "S1" ? b.FirstChunkMs : b.P99, "ms", null, null, ok));
            results.Add(new BenchResult($"{b.Shape.Id}.bare.cpu", $"{name}: server CPU per delivered chunk", b.CpuMicrosPerChunk, "µs/chunk", null, null, ok));
        }

        return results;
    }

    private static BenchResult Figure(string id, string name, double value, string unit, double? baseline, bool verified) =>
        new(id, name, value, unit, baseline, baseline is > 0 ? value / baseline : null, verified);

    private static string TargetTitle(string target) => target switch
    {
        "bare" => "bare SignalR hub (baseline a)",
        "nolog" => "Orleans streams without the log (baseline b)",
        "sqlite" => "single node, SQLite",
        "postgres" => "cluster of silos + gateway, PostgreSQL",
        _ => target,
    };

    // ---- Targets --------------------------------------------------------------------------------------

    private Dictionary<string, string> ModelSettings(FakeOpenAIServer model) => new()
    {
        ["Llm__Provider"] = "OpenAI",
        ["Llm__Endpoint"] = model.Endpoint.ToString(),
        ["Llm__Model"] = "fake",
        ["Llm__ApiKey"] = "bench",
    };

    private string NewDirectory(string name)
    {
        var path = Path.Combine(workDirectory, $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// The bench offers one user far more load than a person makes: the per-user limits that protect the service
    /// from one client would measure themselves instead.
    /// </summary>
    private static readonly Dictionary<string, string> LimitsOff = new()
    {
        ["Agent__MaxRunningConversationsPerUser"] = "1000000",
        ["RateLimits__SendsPerMinute"] = "1000000",
        ["RateLimits__SendBurst"] = "1000000",
        ["RateLimits__ConversationsPerMinute"] = "1000000",
        ["RateLimits__ConversationBurst"] = "1000000",
    };

    private Dictionary<string, string> SingleNodeSettings(FakeOpenAIServer model, string directory) => new(ModelSettings(model))
    {
        ["ConnectionStrings__Agents"] = $"Data Source={Path.Combine(directory, "agents.db")}",
        ["Orleans__SiloPort"] = TestEnvironment.FreePort().ToString(),
        ["Orleans__GatewayPort"] = TestEnvironment.FreePort().ToString(),
    };

    private async Task<StreamTarget> StartBareAsync(FakeOpenAIServer model, CancellationToken cancellationToken)
    {
        var server = await ServerProcess.StartAsync("bare", ServerProcess.BenchPath, [Baselines.BareRole], ModelSettings(model), NewDirectory("bare"), cancellationToken);
        return new BaselineTarget("bare", "bare SignalR hub", server, Baselines.BareHubPath);
    }

    private async Task<StreamTarget> StartNoLogAsync(FakeOpenAIServer model, CancellationToken cancellationToken)
    {
        var directory = NewDirectory("nolog");
        var server = await ServerProcess.StartAsync("nolog", ServerProcess.BenchPath, [Baselines.NoLogRole], SingleNodeSettings(model, directory), directory, cancellationToken);
        return new BaselineTarget("nolog", "Orleans streams without the log", server, Baselines.NoLogHubPath);
    }

    private async Task<StreamTarget> StartSingleNodeAsync(FakeOpenAIServer model, CancellationToken cancellationToken)
    {
        var directory = NewDirectory("sqlite");
        return await StartSingleNodeAsync("sqlite", directory, SingleNodeSettings(model, directory), cancellationToken);
    }

    /// <summary>The service as <c>dotnet run --project src/Api</c> runs it: one process, SQLite, with these settings on top.</summary>
    public static async Task<ServiceTarget> StartSingleNodeAsync(
        string name, string directory, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var all = new Dictionary<string, string>(LimitsOff)
        {
            ["ConnectionStrings__Agents"] = $"Data Source={Path.Combine(directory, "agents.db")}",
            ["Orleans__SiloPort"] = TestEnvironment.FreePort().ToString(),
            ["Orleans__GatewayPort"] = TestEnvironment.FreePort().ToString(),
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var server = await ServerProcess.StartAsync(name, ServerProcess.ApiPath, [], all, directory, cancellationToken);
        return new ServiceTarget(name, "single node, SQLite", [server], server);
    }

    private async Task<ServiceTarget> StartClusterAsync(FakeOpenAIServer model, string connectionString, int silos, CancellationToken cancellationToken)
    {
        var directory = NewDirectory("cluster");
        var settings = new Dictionary<string, string>(LimitsOff.Concat(ModelSettings(model)))
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = $"bench-{Guid.NewGuid():N}",
            ["Orleans__FailureDetection"] = "Fast",
            ["Storage__Provider"] = "Postgres",
            // Npgsql pools up to 100 connections per process by default; four processes could ask for more than the
            // server's max_connections (300 here, 100 by default): each gets a share (docs/scaling.md).
            ["ConnectionStrings__Agents"] = connectionString + ";Maximum Pool Size=50",
        };
        await ServerProcess.RunAsync(ServerProcess.SiloPath, ["migrate"], settings, cancellationToken);
        // All at once: the gateway keeps trying the cluster until a silo answers, and is ready only then.
        var gatewayStart = ServerProcess.StartAsync("gateway", ServerProcess.ApiPath, [], new Dictionary<string, string>(settings)
        {
            // Off by default in a cluster; the bench mints its users' tokens here.
            ["Auth__DevTokens"] = "true",
            ["Auth__AllowDevTokensInCluster"] = "true",
            ["Auth__SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        }, directory, cancellationToken);
        var servers = (await Task.WhenAll(Enumerable.Range(1, silos).Select(i =>
            ServerProcess.StartAsync($"silo{i}", ServerProcess.SiloPath, [], new Dictionary<string, string>(settings)
            {
                ["Orleans__SiloPort"] = TestEnvironment.FreePort().ToString(),
                ["Orleans__GatewayPort"] = TestEnvironment.FreePort().ToString(),
            }, directory, cancellationToken)))).ToList();
        var gateway = await gatewayStart;
        servers.Add(gateway);
        return new ServiceTarget("postgres", $"cluster of {silos} silos and a gateway, PostgreSQL", servers, gateway);
    }

    // ---- I1: a node at rest ------------------------------------------------------------------------

    /// <summary>
    /// CPU of each process of a freshly started target with no traffic at all, after start-up work has settled (JIT
    /// tiers, the first membership rounds): what stream polling, timers and probes cost a node that serves nobody.
    /// The busiest process is the figure; the issue's target is 2 % of a core.
    /// </summary>
    private async Task<List<BenchResult>> IdleAsync(StreamTarget target, CancellationToken cancellationToken)
    {
        await Task.Delay(quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(45), cancellationToken);
        var before = target.Servers.Select(s => s.CpuTime).ToList();
        var clock = Stopwatch.StartNew();
        await Task.Delay(quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(30), cancellationToken);
        var shares = target.Servers.Select((s, i) => (s.Name, Share: (s.CpuTime - before[i]) / clock.Elapsed * 100)).ToList();
        var busiest = shares.MaxBy(x => x.Share);
        Console.WriteLine($"  I1 {target.Name} at rest: {string.Join(", ", shares.Select(x => $"{x.Name} {x.Share:0.00} %"))} of a core");
        return [new($"I1.{target.Name}", $"I1 {target.Description} with no traffic: CPU of its busiest process ({busiest.Name})", busiest.Share, "% of a core", true)];
    }

    // ---- R1: replay ---------------------------------------------------------------------------------

    /// <summary>
    /// A conversation of ~10,000 events (every chunk its own event), then a fresh process on the same file: the
    /// cold activation (the first call), and <c>Watch(afterSeq: 0)</c> delivering all of it, cold and warm.
    /// </summary>
    private async Task<List<BenchResult>> ReplayAsync(FakeOpenAIServer model, CancellationToken cancellationToken)
    {
        const int chunks = 9_997;
        var directory = NewDirectory("replay");
        var noMerging = new Dictionary<string, string>(SingleNodeSettings(model, directory)) { ["Agent__DeltaFlushWindow"] = "00:00:00" };
        string conversationId;
        long lastSeq;
        await using (var writer = await StartSingleNodeAsync("replay", directory, noMerging, cancellationToken))
        {
            // Written without a watcher (R1 measures reading it back): started, then polled until the run has ended.
            await using var writing = await writer.ConnectClientAsync("bench", cancellationToken);
            var reply = FakeReply.Stream().StampedText(chunks, TimeSpan.Zero);
            var written = await RunToEndAsync(writing, $"{model.NewScript().Then(reply).Marker} A long answer.", cancellationToken);
            (conversationId, lastSeq) = (written.Id, written.LastSeq);
        }

        await using var reader = await StartSingleNodeAsync("replay", directory, noMerging, cancellationToken);
        await using var client = await reader.ConnectClientAsync("bench", cancellationToken);
        // The process warmed up on a small conversation first (JIT, pools): what is measured is that conversation's activation.
        var small = await RunToEndAsync(client, $"{model.NewScript().Then(FakeReply.Stream().StampedText(5, TimeSpan.Zero)).Marker} Hi.", cancellationToken);

        await ReplayOnceAsync(client, small.Id, small.LastSeq, cancellationToken);
        var activation = Stopwatch.StartNew();
        var info = await client.GetAsync(conversationId, cancellationToken);
        activation.Stop();

        var (cold, coldError) = await ReplayOnceAsync(client, conversationId, lastSeq, cancellationToken);
        // Warm: the median of five, since one replay of a few hundred milliseconds carries this machine's noise.
        var warmRuns = new List<TimeSpan>();
        string? warmError = null;
        for (var i = 0; i < 5; i++)
        {
            var (elapsed, error) = await ReplayOnceAsync(client, conversationId, lastSeq, cancellationToken);
            warmRuns.Add(elapsed);
            warmError ??= error;
        }

        var warm = warmRuns.Order().ElementAt(warmRuns.Count / 2);

        // Where the replay's time goes: the same pages read straight from the file by the store, in this process.
        var store = new Agents.Grains.Storage.SqliteEventStore(
            Microsoft.Extensions.Options.Options.Create(new Agents.Grains.Storage.StorageOptions { ConnectionString = $"Data Source={Path.Combine(directory, "agents.db")}" }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Agents.Grains.Storage.SqliteEventStore>.Instance);
        await store.ReadEventsAsync(conversationId, 0, 1_000, cancellationToken);
        var storeRead = Stopwatch.StartNew();
        for (long after = 0; after < lastSeq;)
        {
            var page = await store.ReadEventsAsync(conversationId, after, 1_000, cancellationToken);
            after = page[^1].Seq;
        }

        storeRead.Stop();
        var verified = info.LastSeq == lastSeq && lastSeq >= 10_000 && coldError is null && warmError is null;
        if (!verified)
        {
            Console.WriteLine($"  R1 failed: lastSeq {info.LastSeq}/{lastSeq}; {coldError ?? warmError}");
        }

        Console.WriteLine($"  R1 {lastSeq} events: activation {activation.Elapsed.TotalMilliseconds:0.0} ms, replay {cold.TotalMilliseconds:0} ms cold, {warm.TotalMilliseconds:0} ms warm; the store alone reads them in {storeRead.Elapsed.TotalMilliseconds:0} ms");
        return
        [
            new($"R1.activation", $"R1 conversation of {lastSeq:N0} events, fresh process: cold activation (first call)", activation.Elapsed.TotalMilliseconds, "ms", null, null, verified),
            new($"R1.replay", $"R1 Watch(afterSeq: 0) delivers all {lastSeq:N0} events, first replay after the restart", cold.TotalMilliseconds, "ms", null, null, verified),
            new($"R1.replay.warm", $"R1 the same again, the median of five (pages in the database's cache)", warm.TotalMilliseconds, "ms", null, null, verified),
            new($"R1.store", $"R1 of which reading the {lastSeq:N0} events from the SQLite file (the store alone, 1,000 a page)", storeRead.Elapsed.TotalMilliseconds, "ms", null, null, verified),
        ];
    }

    /// <summary>Starts a conversation with <paramref name="prompt"/> and, without watching it, polls until its run has ended.</summary>
    private static async Task<ConversationInfo> RunToEndAsync(AgentClient client, string prompt, CancellationToken cancellationToken)
    {
        var info = await client.CreateConversationAsync(new CreateConversation(Text: prompt), cancellationToken);
        while (info.Status != ConversationStatus.Idle)
        {
            await Task.Delay(50, cancellationToken);
            info = await client.GetAsync(info.Id, cancellationToken);
        }

        return info;
    }

    private static async Task<(TimeSpan Elapsed, string? Error)> ReplayOnceAsync(AgentClient client, string conversationId, long lastSeq, CancellationToken cancellationToken)
    {
        var watcher = new ConversationWatcher(conversationId, null);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stopwatch = Stopwatch.StartNew();
        await foreach (var e in client.WatchAsync(conversationId, 0, stop.Token))
        {
            watcher.Add(e, 0);
            if (e.Seq >= lastSeq)
            {
                break;
            }
        }

        stopwatch.Stop();
        return (stopwatch.Elapsed, watcher.Error ?? (watcher.LastSeq == lastSeq ? null : $"replay ended at {watcher.LastSeq} of {lastSeq}"));
    }

    /// <summary>The silo's <c>agents.runs.active</c> gauge, read from its Prometheus <c>/metrics</c>.</summary>
    private static async Task<long> ActiveRunsAsync(ServerProcess silo, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = silo.BaseAddress };
        var text = await http.GetStringAsync("/metrics", cancellationToken);
        return (long)PrometheusText.Sum(text, "agents_runs_active");
    }

    // ---- R2: failover ------------------------------------------------------------------------------

    /// <summary>
    /// Conversations streaming long answers on the cluster, each watched by its own client; kill -9 of one silo; the
    /// time from the kill until the last affected run has resumed at its client, and every client's view checked.
    /// </summary>
    private async Task<List<BenchResult>> FailoverAsync(ServiceTarget cluster, FakeOpenAIServer model, CancellationToken cancellationToken)
    {
        var runs = quick ? 10 : 60;
        var clients = new List<AgentClient>();
        var watchers = new List<ConversationWatcher>();
        var resumedAt = new long[runs];
        var tasks = new List<Task>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(TimeSpan.FromMinutes(3));
        var started = new CountdownEvent(runs);
        var rewatches = new RewatchCounter();
        for (var i = 0; i < runs; i++)
        {
            var client = await cluster.ConnectClientAsync("bench", cancellationToken, rewatches);
            clients.Add(client);
            // A long answer, and the same again for a step retried after the failover.
            // Long enough for a second kill when the first silo hosted none of the runs.
            var answer = FakeReply.Stream().StampedText(quick ? 300 : 400, TimeSpan.FromMilliseconds(20));
            var script = model.NewScript().Then(answer).Otherwise(FakeReply.Stream().StampedText(100, TimeSpan.FromMilliseconds(20)));
            var info = await client.CreateConversationAsync(new CreateConversation(Title: "failover"), cancellationToken);
            var watcher = new ConversationWatcher(info.Id, null);
            watchers.Add(watcher);
            var index = i;
            tasks.Add(Task.Run(async () =>
            {
                var signalled = false;
                // The client watches again from its last seq when the watch fails, as any client should.
                await foreach (var e in client.WatchAsync(watcher.ConversationId, 0, stop.Token))
                {
                    if (e.Type == EventTypes.RunResumed && resumedAt[index] == 0)
                    {
                        resumedAt[index] = Stopwatch.GetTimestamp();
                    }

                    if (!signalled && e.Type == EventTypes.MessageDelta)
                    {
                        signalled = true;
                        started.Signal();
                    }

                    if (watcher.Add(e, 0))
                    {
                        return;
                    }
                }
            }, stop.Token));
            await client.SendMessageAsync(info.Id, $"{script.Marker} Keep streaming.", cancellationToken: cancellationToken);
        }

        started.Wait(stop.Token);
        // Placement is Orleans' to choose: the victim is the silo whose own metrics count the most runs in its loop.
        var silos = cluster.Servers.Where(s => s.Name.StartsWith("silo", StringComparison.Ordinal)).ToList();
        var hosted = new List<(ServerProcess Silo, long Runs)>();
        foreach (var silo in silos)
        {
            hosted.Add((silo, await ActiveRunsAsync(silo, cancellationToken)));
        }

        var victim = hosted.MaxBy(x => x.Runs).Silo;
        var killedAt = Stopwatch.GetTimestamp();
        victim.Kill();
        await Task.WhenAll(tasks);

        var affected = resumedAt.Where(t => t != 0).ToList();
        var slowest = affected.Count == 0 ? double.NaN : affected.Max(t => Stopwatch.GetElapsedTime(killedAt, t).TotalSeconds);
        var errors = watchers.Select(w => w.Error ?? (w.LastTerminal == EventTypes.RunCompleted ? null : $"{w.ConversationId} ended {w.LastTerminal}")).Where(e => e is not null).ToList();
        // Every client got 1..lastSeq exactly once (checked as they arrived); the stored log agrees on where it ends.
        var mismatched = 0;
        for (var i = 0; i < runs; i++)
        {
            var info = await clients[i].GetAsync(watchers[i].ConversationId, cancellationToken);
            mismatched += info.LastSeq == watchers[i].LastSeq ? 0 : 1;
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        var verified = errors.Count == 0 && mismatched == 0 && affected.Count > 0;
        Console.WriteLine($"  R2 killed {victim.Name}: {affected.Count} of {runs} runs resumed, the last {slowest:0.00} s after the kill; {rewatches.Count} watches failed and were resumed; {errors.Count + mismatched} client views wrong{(errors.Count > 0 ? ": " + errors[0] : "")}");
        return
        [
            new("R2.resume", $"R2 kill -9 of a silo with {affected.Count} of {runs} streaming runs: kill to the last run.resumed at its client", slowest, "s", null, null, verified),
            new("R2.lost", "R2 clients that lost or got twice an event (each client checks every seq)", errors.Count + mismatched, "clients", null, null, verified),
            new("R2.rewatch", "R2 watches that failed during the failover and were resumed from their last seq", rewatches.Count, "watches", null, null, verified),
        ];
    }
}
