using System.Net;
using Agents.Events;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Grains.Tests;

/// <summary>
/// The database stops taking writes in the middle of a run (another process holds SQLite's write lock, or its disk
/// is full): the run pauses, continues when the database takes writes again, and its log stays whole.
/// </summary>
public sealed class DatabaseOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SqliteLockedMidRun_TheRunPausesAndContinues_WithNothingLostOrDuplicated()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string> { ["Llm__DemoTokensPerSecond"] = "20", ["Llm__DemoToolLatency"] = "00:00:00.050" };
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        await using var silo = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        using var client = await silo.ConnectAsync(Ct);
        var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
        await grain.CreateAsync("alice", new CreateConversation(Text: "Tell me a story"), Ct);
        await store.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);

        long storedWhileLocked = 0;
        long storedBefore = 0;
        var shown = new List<ConversationInfo>();
        await HoldWriteLockAsync(directory, TimeSpan.FromSeconds(2), async locked =>
        {
            storedBefore = (await store.ReadEventsAsync(id, 0, 1_000, Ct)).Count;
            // The run goes on in memory meanwhile, to its end (~25 tokens at 20/s): none of it may be shown.
            while (!locked.IsCompleted)
            {
                shown.Add(await grain.GetInfoAsync("alice", Ct));
                await Task.Delay(50, Ct);
            }

            storedWhileLocked = (await store.ReadEventsAsync(id, 0, 1_000, Ct)).Count - storedBefore;
        });

        var events = await store.WaitForEndAsync(id);

        Assert.Equal(0, storedWhileLocked);
        Assert.NotEmpty(shown);
        Assert.All(shown, info =>
        {
            Assert.Equal(ConversationStatus.Running, info.Status);
            Assert.True(info.LastSeq <= storedBefore, $"seq {info.LastSeq} shown while {storedBefore} were stored");
        });
        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.DoesNotContain(events, e => e.Type is EventTypes.RunResumed or EventTypes.MessageInterrupted);
        Assert.Equal(
            events.Select(e => e.Data).OfType<AssistantMessageCompleted>().Single().Text,
            string.Concat(events.Select(e => e.Data).OfType<MessageDeltaStreamed>().Select(d => d.Text)));
    }

    [Fact]
    public async Task SqliteLockedLongerThanTheRetries_TheRunResumesWhenTheLockGoes_WithoutAnyCall()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Llm__DemoTokensPerSecond"] = "20",
            ["Storage__SqliteBusyTimeout"] = "00:00:01",
            ["Storage__CommitRetryBudget"] = "00:00:01",
            ["Orleans__ResumeSweepPeriod"] = "00:00:01",
        };
        var store = SiloProcess.OpenStore(directory);
        var id = Ids.NewConversationId();

        await using var silo = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
        await StartStoryAsync(silo, id);

        await store.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);
        // Longer than the writer's retries: the conversation gives up its appends and stops.
        await HoldWriteLockAsync(directory, TimeSpan.FromSeconds(5), locked => locked);

        // No client calls: the silo's sweep wakes the conversation, which resumes from what was stored.
        var events = await store.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Contains(events, e => e.Type == EventTypes.RunResumed);
    }

    [Fact]
    public async Task SqliteDiskFullMidRun_TheRunPausesAndContinuesOnceThereIsSpace_WithNothingLostOrDuplicated()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var disk = Path.Combine(directory, "disk");
        Directory.CreateDirectory(disk);
        // A small filesystem of its own, so filling it harms nothing else: a tmpfs, which takes root (or CAP_SYS_ADMIN).
        Assert.SkipUnless(await RunAsync("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", disk), "mounting a tmpfs needs root; the disk-full test is skipped");
        try
        {
            var health = new Uri($"http://127.0.0.1:{TestEnvironment.FreePort()}");
            var settings = new Dictionary<string, string>
            {
                ["ConnectionStrings__Agents"] = $"Data Source={Path.Combine(disk, "agents.db")}",
                ["ASPNETCORE_URLS"] = health.ToString(),
                ["Llm__DemoTokensPerSecond"] = "20",
                ["Llm__DemoToolLatency"] = "00:00:00.050",
                // SQLite's own checkpoints: its log then grows into the full disk, so every commit fails while it is
                // full. With the checkpointer, a log copied whole is written again in place, and some commits still fit.
                ["Storage__SqliteCheckpointPeriod"] = "00:00:00",
            };
            var store = SiloProcess.OpenStore(disk);
            var id = Ids.NewConversationId();
            await using var silo = SiloProcess.Start(directory, settings, TestEnvironment.FreePort());
            await StartStoryAsync(silo, id);

            await store.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);
            var ballast = Path.Combine(disk, "ballast");
            using var http = new HttpClient { BaseAddress = health, Timeout = TimeSpan.FromSeconds(20) };
            Assert.True(await ReadinessIsAsync(http, HttpStatusCode.OK), "the silo was not ready before the disk filled up");
            await FillAsync(ballast);
            // The probe needs no space; the silo is unready because its commits fail.
            Assert.True(await ReadinessIsAsync(http, HttpStatusCode.ServiceUnavailable), "/readyz kept answering 200 with the disk full");
            var before = (await store.ReadAllAsync(id)).Count;
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
            var storedWhileFull = (await store.ReadAllAsync(id)).Count - before;
            File.Delete(ballast);

            var events = await store.WaitForEndAsync(id);

            Assert.Equal(0, storedWhileFull);
            Assert.True(await ReadinessIsAsync(http, HttpStatusCode.OK), "the silo did not become ready again");
            // The writer saw SQLite's own "full" error and kept retrying it.
            Assert.Contains("'database or disk is full'", await File.ReadAllTextAsync(silo.LogPath, Ct), StringComparison.Ordinal);
            LogInvariants.AssertHold(events);
            Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
            Assert.DoesNotContain(events, e => e.Type is EventTypes.RunResumed or EventTypes.MessageInterrupted);
            await silo.KillAsync();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            await RunAsync("umount", "-l", disk);
        }
    }

    private static async Task<bool> ReadinessIsAsync(HttpClient http, HttpStatusCode expected)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (stopwatch.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                using var response = await http.GetAsync("/readyz", Ct);
                if (response.StatusCode == expected)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100, Ct);
        }

        return false;
    }

    /// <summary>Writes <paramref name="path"/> until the filesystem has no space left.</summary>
    private static async Task FillAsync(string path)
    {
        var chunk = new byte[64 * 1024];
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            while (true)
            {
                await file.WriteAsync(chunk, Ct);
            }
        }
        catch (IOException)
        {
            // ENOSPC: full.
        }
    }

    /// <summary>Starts a Demo run in conversation <paramref name="id"/> through a client of <paramref name="silo"/>.</summary>
    private static async Task StartStoryAsync(SiloProcess silo, string id)
    {
        using var client = await silo.ConnectAsync(Ct);
        var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
        await grain.CreateAsync("alice", new CreateConversation(Text: "Tell me a story"), Ct);
    }

    private static async Task<bool> RunAsync(string command, params string[] arguments)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(command, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            await process.WaitForExitAsync(Ct);
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>
    /// Holds SQLite's write lock on the silo's database from another connection, as another process would, for
    /// <paramref name="duration"/>; <paramref name="whileLocked"/> runs meanwhile and gets the wait to await.
    /// </summary>
    private static async Task HoldWriteLockAsync(string directory, TimeSpan duration, Func<Task, Task> whileLocked)
    {
        await using var blocker = new SqliteConnection($"Data Source={Path.Combine(directory, "agents.db")}");
        await blocker.OpenAsync(Ct);
        await using var command = blocker.CreateCommand();
        command.CommandText = "BEGIN EXCLUSIVE;";
        await command.ExecuteNonQueryAsync(Ct);
        await whileLocked(Task.Delay(duration, Ct));
        command.CommandText = "ROLLBACK;";
        await command.ExecuteNonQueryAsync(Ct);
    }
}
