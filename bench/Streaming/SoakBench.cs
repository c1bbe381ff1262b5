using System.Diagnostics;
using System.Globalization;
using Agents.Api.Conversations;
using Agents.Events;
using Agents.Client;

namespace Agents.Bench.Streaming;

/// <summary>
/// <c>--soak</c>: mixed load on a single node for a long time — Demo dinner runs with approvals and denials, cancels,
/// messages sent mid-run, clients that drop and come back from their last seq, extra watchers that join and leave —
/// while the server's memory is sampled. Every client checks what it sees against the contract.
/// </summary>
internal sealed class SoakBench(TimeSpan duration, int users, string workDirectory)
{
    private readonly List<Sample> _samples = [];
    private readonly Lock _lock = new();
    private readonly List<string> _errors = [];
    private long _runs;
    private long _events;
    private long _reconnects;
    private long _cancels;
    private long _watchers;
    private long _conflicts;

    public async Task<List<BenchResult>> RunAsync(CancellationToken cancellationToken)
    {
        var directory = Path.Combine(workDirectory, "soak");
        Directory.CreateDirectory(directory);
        await using var service = await StreamingBench.StartSingleNodeAsync("soak", directory, new Dictionary<string, string>
        {
            ["Llm__Provider"] = "Demo",
            // Fast enough for many runs, slow enough that drops, cancels and messages land mid-run.
            ["Llm__DemoTokensPerSecond"] = "200",
            ["Llm__DemoToolLatency"] = "00:00:00.200",
            // Finished conversations leave memory after 2 minutes rather than 15, so a 30-minute soak reaches its steady
            // state during the warm-up and what grows after it is a leak, not the activations of the last 15 minutes.
            ["Orleans__IdleCollectionAge"] = "00:02:00",
        }, cancellationToken);
        var server = service.Gateway;
        var clock = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(duration);
        var sampler = SampleAsync(server, clock, stop.Token);
        var loops = Enumerable.Range(0, users).Select(i => Task.Run(() => UserLoopAsync(service, i, stop.Token))).ToList();
        await Task.WhenAll(loops);
        await sampler;

        var warmUp = duration / 6;
        var settled = _samples.Where(s => s.At >= warmUp && s.At < warmUp * 2).ToList();
        var last = _samples.Where(s => s.At >= duration - warmUp).ToList();
        double Mean(List<Sample> samples, Func<Sample, long> value) =>
            samples.Select(value).Where(v => v > 0).DefaultIfEmpty(0).Average();
        double Growth(Func<Sample, long> value) =>
            Mean(settled, value) is var from and > 0 ? Mean(last, value) / from - 1 : double.NaN;

        var rssGrowth = Growth(s => s.Rss) * 100;
        var liveGrowth = Growth(s => s.Live) * 100;
        var heapGrowth = Growth(s => s.Heap) * 100;
        var errors = _errors.Count;
        // Memory is the process's (RSS) and what stays alive on the managed heap; the heap after any collection also
        // counts garbage not yet collected, so it is reported but judges nothing.
        var verified = errors == 0 && _runs > 0 && rssGrowth < 10 && liveGrowth < 10;
        Console.WriteLine($"  soak {duration.TotalMinutes:0.#} min, {users} users: {_runs} runs ended, {_events} events seen, {_reconnects} reconnects, {_cancels} cancels, {_watchers} extra watchers, {_conflicts} answers after a cancel refused with conflict, {errors} errors");
        Console.WriteLine($"  memory after warm-up (mean of the second sixth → mean of the last): RSS {Mb(Mean(settled, s => s.Rss))} → {Mb(Mean(last, s => s.Rss))} MB ({rssGrowth:+0.0;-0.0} %), live heap after full collections {Mb(Mean(settled, s => s.Live))} → {Mb(Mean(last, s => s.Live))} MB ({liveGrowth:+0.0;-0.0} %), heap after any collection {Mb(Mean(settled, s => s.Heap))} → {Mb(Mean(last, s => s.Heap))} MB ({heapGrowth:+0.0;-0.0} %)");
        foreach (var error in _errors.Take(10))
        {
            Console.WriteLine($"  error: {error}");
        }

        var csv = Path.Combine(workDirectory, "soak-memory.csv");
        await File.WriteAllLinesAsync(csv, ["seconds,rss_bytes,live_heap_bytes,heap_bytes", .. _samples.Select(s => $"{s.At.TotalSeconds:0},{s.Rss},{s.Live},{s.Heap}")], cancellationToken);
        Console.WriteLine($"  memory samples: {csv}");
        var name = $"soak, {duration.TotalMinutes:0.#} min, {users} users";
        return
        [
            new("SOAK.runs", $"{name}: runs ended", _runs, "runs", null, null, verified),
            new("SOAK.events", $"{name}: events delivered to clients", _events, "events", null, null, verified),
            new("SOAK.rss", $"{name}: server RSS growth after warm-up (mean of the last sixth over the second sixth)", rssGrowth, "%", null, null, verified),
            new("SOAK.live", $"{name}: live managed heap (after full collections) growth after warm-up", liveGrowth, "%", null, null, verified),
            new("SOAK.heap", $"{name}: managed heap after any collection, growth after warm-up (garbage included; not judged)", heapGrowth, "%", null, null, verified),
            new("SOAK.errors", $"{name}: errors (exceptions and contract violations seen by clients)", errors, "errors", null, null, verified),
        ];
    }

    private static string Mb(double bytes) => (bytes / 1024 / 1024).ToString("0.0", CultureInfo.InvariantCulture);

    private void Fail(string error)
    {
        lock (_lock)
        {
            _errors.Add(error);
        }
    }

    private async Task SampleAsync(ServerProcess server, Stopwatch clock, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var (live, heap) = await ManagedHeapAsync(http, cancellationToken);
                lock (_lock)
                {
                    _samples.Add(new(clock.Elapsed, server.ResidentBytes, live, heap));
                }

                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// From the server's Prometheus <c>/metrics</c>: the live heap after the last full collection, and the heap after
    /// the last collection of any kind (every generation summed).
    /// </summary>
    private static async Task<(long Live, long Heap)> ManagedHeapAsync(HttpClient http, CancellationToken cancellationToken)
    {
        var text = await http.GetStringAsync("/metrics", cancellationToken);
        var live = (long)PrometheusText.Sum(text, "agents_process_heap_live_bytes");
        var heap = (long)PrometheusText.Sum(text, "dotnet_gc_last_collection_heap_size_bytes");
        return (live, heap);
    }

    private sealed record Sample(TimeSpan At, long Rss, long Live, long Heap);

    private async Task UserLoopAsync(ServiceTarget service, int user, CancellationToken cancellationToken)
    {
        var random = new Random(user);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ConversationAsync(service, $"soak-{user}", random, cancellationToken);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // The soak's end cancels whatever the user was doing, a connect included (an AggregateException).
                return;
            }
            catch (Exception ex)
            {
                Fail($"user {user}: {ex.GetType().Name}: {ex.Message}");
                await Task.Delay(1000, CancellationToken.None);
            }
        }
    }

    /// <summary>One conversation of one to three runs, with whatever a restless user does to it.</summary>
    private async Task ConversationAsync(ServiceTarget service, string user, Random random, CancellationToken cancellationToken)
    {
        var client = await service.ConnectClientAsync(user, cancellationToken);
        try
        {
            var info = await client.CreateConversationAsync(new CreateConversation(Text: "Can you order dinner for two tonight?"), cancellationToken);
            var watcher = new ConversationWatcher(info.Id, null);
            var turns = random.Next(1, 4);
            for (var turn = 0; turn < turns; turn++)
            {
                if (turn > 0)
                {
                    await client.SendMessageAsync(info.Id, "And the same for tomorrow, please.", cancellationToken: cancellationToken);
                }

                if (random.NextDouble() < 0.2)
                {
                    _ = Task.Run(() => ExtraWatcherAsync(service, user, info.Id, cancellationToken), CancellationToken.None);
                }

                client = await WatchRunAsync(service, user, client, watcher, random, cancellationToken);
                Interlocked.Increment(ref _runs);
                if (watcher.Error is { } error)
                {
                    Fail(error);
                    return;
                }
            }
        }
        finally
        {
            await client.DisposeAsync();
        }
    }

    private async Task<AgentClient> WatchRunAsync(
        ServiceTarget service, string user, AgentClient client, ConversationWatcher watcher, Random random, CancellationToken cancellationToken)
    {
        var cancelled = false;
        while (true)
        {
            var dropped = false;
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await foreach (var e in client.WatchAsync(watcher.ConversationId, watcher.LastSeq, watch.Token))
            {
                Interlocked.Increment(ref _events);
                if (watcher.Add(e, 0))
                {
                    if (e.Type == EventTypes.RunFailed)
                    {
                        Fail($"{watcher.ConversationId}: run failed");
                    }

                    return client;
                }

                var dice = random.NextDouble();
                if (e.Data is InputRequested request)
                {
                    if (dice < 0.1)
                    {
                        Interlocked.Increment(ref _cancels);
                        await client.CancelAsync(watcher.ConversationId, cancellationToken);
                    }
                    else if (cancelled)
                    {
                        // This user cancelled a moment ago (the request was stored before): the contract's answer
                        // to it is conflict, and that is what is checked.
                        await ExpectConflictAsync(client, watcher.ConversationId, request.RequestId, cancellationToken);
                    }
                    else
                    {
                        await client.RespondAsync(watcher.ConversationId, new Respond(request.RequestId, Approved: dice < 0.85), cancellationToken);
                    }
                }
                else if (e.Type == EventTypes.MessageDelta && dice < 0.01)
                {
                    // The tab closes; the user comes back a moment later and asks for what they missed.
                    dropped = true;
                    break;
                }
                else if (e.Type == EventTypes.MessageDelta && dice < 0.012)
                {
                    await client.SendMessageAsync(watcher.ConversationId, "Somewhere quiet, if you can.", cancellationToken: cancellationToken);
                }
                else if (e.Type == EventTypes.MessageDelta && dice < 0.0125)
                {
                    Interlocked.Increment(ref _cancels);
                    cancelled = true;
                    await client.CancelAsync(watcher.ConversationId, cancellationToken);
                }
            }

            if (!dropped)
            {
                throw new InvalidOperationException($"{watcher.ConversationId}: the watch ended before the run did");
            }

            Interlocked.Increment(ref _reconnects);
            await client.DisposeAsync();
            await Task.Delay(random.Next(50, 500), cancellationToken);
            client = await service.ConnectClientAsync(user, cancellationToken);
        }
    }

    private async Task ExpectConflictAsync(AgentClient client, string conversationId, string requestId, CancellationToken cancellationToken)
    {
        try
        {
            await client.RespondAsync(conversationId, new Respond(requestId, Approved: true), cancellationToken);
            Fail($"{conversationId}: an answer after the run was cancelled was accepted");
        }
        catch (AgentConflictException)
        {
            Interlocked.Increment(ref _conflicts);
        }
    }

    /// <summary>Someone else opens the conversation from the start, watches for a while, and leaves.</summary>
    private async Task ExtraWatcherAsync(ServiceTarget service, string user, string conversationId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _watchers);
        try
        {
            await using var client = await service.ConnectClientAsync(user, cancellationToken);
            var watcher = new ConversationWatcher(conversationId, null);
            using var leave = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            leave.CancelAfter(TimeSpan.FromSeconds(Random.Shared.Next(1, 10)));
            try
            {
                await foreach (var e in client.WatchAsync(conversationId, 0, leave.Token))
                {
                    watcher.Add(e, 0);
                }
            }
            catch (OperationCanceledException) when (leave.IsCancellationRequested)
            {
            }

            if (watcher.Error is { } error)
            {
                Fail(error);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Fail($"extra watcher of {conversationId}: {ex.GetType().Name}: {ex.Message}");
        }
    }
}
