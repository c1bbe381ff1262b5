using Agents.Events;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Grains.Tests;

/// <summary>
/// The database stops taking writes in the middle of a run (another process holds SQLite's write lock):
/// the run pauses, continues when the lock is released, and its log stays whole.
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
        await HoldWriteLockAsync(directory, TimeSpan.FromSeconds(2), async locked =>
        {
            var before = (await store.ReadEventsAsync(id, 0, 1_000, Ct)).Count;
            await locked;
            storedWhileLocked = (await store.ReadEventsAsync(id, 0, 1_000, Ct)).Count - before;
        });

        var events = await store.WaitForEndAsync(id);

        Assert.Equal(0, storedWhileLocked);
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
        using (var client = await silo.ConnectAsync(Ct))
        {
            var grain = client.Services.GetRequiredService<IClusterClient>().GetGrain<IConversationGrain>(id);
            await grain.CreateAsync("alice", new CreateConversation(Text: "Tell me a story"), Ct);
        }

        await store.WaitForAsync(id, e => e.Type == EventTypes.MessageDelta);
        // Longer than the writer's retries: the conversation gives up its appends and stops.
        await HoldWriteLockAsync(directory, TimeSpan.FromSeconds(5), locked => locked);

        // No client calls: the silo's sweep wakes the conversation, which resumes from what was stored.
        var events = await store.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
        Assert.Contains(events, e => e.Type == EventTypes.RunResumed);
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
