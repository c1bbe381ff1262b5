using System.Diagnostics;
using Agents.Events;
using Agents.Grains.Storage;

namespace Agents.Grains.Tests;

/// <summary>What every <see cref="IEventStore"/> must do; one subclass per database.</summary>
public abstract class EventStoreContractTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract Task<IEventStore> CreateStoreAsync();

    [Fact]
    public async Task Migrate_IsIdempotent()
    {
        var store = await CreateStoreAsync();
        await store.MigrateAsync(Ct);
        await store.MigrateAsync(Ct);
        Assert.Null(await store.GetConversationAsync("c_none", Ct));
    }

    [Fact]
    public async Task Append_ThenRead_ReturnsTheEventsAfterASeq_InOrder_Paged()
    {
        var store = await CreateStoreAsync();
        var row = Row("c_read", 5);
        var events = Enumerable.Range(1, 5).Select(i => Event("c_read", i, new MessageDeltaStreamed("m_1", $"piece {i} ünïcødé 🙂"))).ToList();
        await store.AppendAsync([new AppendBatch("c_read", events[..2], Row("c_read", 2)), new AppendBatch("c_read", events[2..], row)], Ct);

        Assert.Equal([3L, 4L], (await store.ReadEventsAsync("c_read", 2, 2, Ct)).Select(e => e.Seq));
        var all = await store.ReadEventsAsync("c_read", 0, 100, Ct);
        Assert.Equal(events.Select(e => AgentJson.SerializeData(e.Data)), all.Select(e => AgentJson.SerializeData(e.Data)));
        Assert.Equal(events.Select(e => (e.Seq, e.RunId, e.At)), all.Select(e => (e.Seq, e.RunId, e.At)));
        Assert.Equal(5, (await store.GetConversationAsync("c_read", Ct))?.LastSeq);
    }

    [Fact]
    public async Task ABatchThatStoresNoRow_StoresItsEvents_AndLeavesTheRowToTheNextBatchThatDoes()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync([new AppendBatch("c_rowless", [Event("c_rowless", 1, new RunStarted())], Row("c_rowless", 1))], Ct);
        await store.AppendAsync([new AppendBatch("c_rowless", [Event("c_rowless", 2, new MessageDeltaStreamed("m_1", "a"))], Row("c_rowless", 2), StoresRow: false)], Ct);
        Assert.Equal(1, (await store.GetConversationAsync("c_rowless", Ct))?.LastSeq);

        // In one commit with a batch that stores it, the row is the newest of those that do.
        await store.AppendAsync(
        [
            new AppendBatch("c_rowless", [Event("c_rowless", 3, new AssistantMessageCompleted("m_1", "ab"))], Row("c_rowless", 3)),
            new AppendBatch("c_rowless", [Event("c_rowless", 4, new MessageDeltaStreamed("m_2", "c"))], Row("c_rowless", 4), StoresRow: false),
        ], Ct);
        Assert.Equal(3, (await store.GetConversationAsync("c_rowless", Ct))?.LastSeq);
        Assert.Equal([1L, 2L, 3L, 4L], (await store.ReadEventsAsync("c_rowless", 0, 10, Ct)).Select(e => e.Seq));
    }

    [Fact]
    public async Task Append_OfASeqAlreadyStored_FailsWhole_AndStoresNothing()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync([new AppendBatch("c_dup", [Event("c_dup", 1, new RunStarted())], Row("c_dup", 1))], Ct);

        var other = new AppendBatch("c_other", [Event("c_other", 1, new RunStarted())], Row("c_other", 1));
        var duplicate = new AppendBatch("c_dup", [Event("c_dup", 1, new RunCancelled()), Event("c_dup", 2, new RunCancelled())], Row("c_dup", 2));
        await Assert.ThrowsAnyAsync<Exception>(() => store.AppendAsync([other, duplicate], Ct));

        Assert.Equal([EventTypes.RunStarted], (await store.ReadEventsAsync("c_dup", 0, 10, Ct)).Select(e => e.Type));
        Assert.Empty(await store.ReadEventsAsync("c_other", 0, 10, Ct));
        Assert.Null(await store.GetConversationAsync("c_other", Ct));
    }

    [Fact]
    public async Task Append_ThatFailsAfterItsEventsAndRow_StoresNoneOfThem()
    {
        // The snapshot is written after the events and the row; a state the schema refuses (NOT NULL) fails it there.
        var store = await CreateStoreAsync();
        var broken = new AppendBatch(
            "c_late", [Event("c_late", 1, new RunStarted())], Row("c_late", 1), Snapshot: new SnapshotRecord("c_late", 1, null!));

        await Assert.ThrowsAnyAsync<Exception>(() => store.AppendAsync([broken], Ct));

        Assert.Empty(await store.ReadEventsAsync("c_late", 0, 10, Ct));
        Assert.Null(await store.GetConversationAsync("c_late", Ct));
        await store.AppendAsync([broken with { Snapshot = null }], Ct);
        Assert.Equal(1, (await store.GetConversationAsync("c_late", Ct))?.LastSeq);
    }

    [Fact]
    public async Task Conversations_AreListedPerOwner_NewestFirst_AndUnfinishedOnesFound()
    {
        var store = await CreateStoreAsync();
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        await store.AppendAsync(
        [
            new AppendBatch("c_a", [], Row("c_a", 0, "owner-1", t0, ConversationStatus.Idle)),
            new AppendBatch("c_b", [], Row("c_b", 0, "owner-1", t0.AddSeconds(5), ConversationStatus.Running)),
            new AppendBatch("c_c", [], Row("c_c", 0, "owner-2", t0.AddSeconds(9), ConversationStatus.Waiting)),
        ], Ct);

        Assert.Equal(["c_b", "c_a"], (await store.ListConversationsAsync("owner-1", 10, Ct)).Select(c => c.Id));
        Assert.Equal(["c_b"], (await store.ListConversationsAsync("owner-1", 1, Ct)).Select(c => c.Id));
        Assert.Equal(["c_b"], await store.ListRunningAsync(Ct));
    }

    [Fact]
    public async Task Snapshots_AreReplaced_AndTranscripts_AreARowPerRun()
    {
        var store = await CreateStoreAsync();
        var t = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        await store.AppendAsync([new AppendBatch("c_s", [], Row("c_s", 0), new SnapshotRecord("c_s", 1, "{\"a\":1}"),
            new TranscriptRecord("c_s", "r_1", "alice", RunOutcome.Completed, t, t.AddSeconds(1), 4, "{\"runId\":\"r_1\"}"))], Ct);
        await store.AppendAsync([new AppendBatch("c_s", [], Row("c_s", 0), new SnapshotRecord("c_s", 2, "{\"a\":2}"),
            new TranscriptRecord("c_s", "r_2", "alice", RunOutcome.Failed, t.AddSeconds(2), t.AddSeconds(3), 9, "{\"runId\":\"r_2\"}"))], Ct);

        Assert.Equal(new SnapshotRecord("c_s", 2, "{\"a\":2}"), await store.ReadSnapshotAsync("c_s", Ct));
        var transcripts = await store.ReadTranscriptAsync("c_s", Ct);
        Assert.Equal(["r_1", "r_2"], transcripts.Select(r => r.RunId));
        Assert.Equal((RunOutcome.Failed, 9L, "{\"runId\":\"r_2\"}", t.AddSeconds(3)), (transcripts[1].Outcome, transcripts[1].LastSeq, transcripts[1].Transcript, transcripts[1].EndedAt));
        Assert.Empty(await store.ReadTranscriptAsync("c_none", Ct));
    }

    [Fact]
    public async Task DeleteConversation_RemovesItsEventsSnapshotTranscriptsAndRow_AndNothingElse()
    {
        var store = await CreateStoreAsync();
        var t = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        foreach (var id in new[] { "c_gone", "c_kept" })
        {
            await store.AppendAsync([new AppendBatch(id, [Event(id, 1, new RunStarted()), Event(id, 2, new RunCompleted(null))], Row(id, 2),
                new SnapshotRecord(id, 2, "{}"), new TranscriptRecord(id, "r_1", "alice", RunOutcome.Completed, t, t, 2, "{}"))], Ct);
        }

        await store.DeleteConversationAsync("c_gone", Ct);
        await store.DeleteConversationAsync("c_never", Ct);

        Assert.Null(await store.GetConversationAsync("c_gone", Ct));
        Assert.Empty(await store.ReadEventsAsync("c_gone", 0, 10, Ct));
        Assert.Null(await store.ReadSnapshotAsync("c_gone", Ct));
        Assert.Empty(await store.ReadTranscriptAsync("c_gone", Ct));
        Assert.Equal(["c_kept"], (await store.ListConversationsAsync("alice", 10, Ct)).Select(c => c.Id));
        Assert.Equal(2, (await store.ReadEventsAsync("c_kept", 0, 10, Ct)).Count);
        Assert.NotNull(await store.ReadSnapshotAsync("c_kept", Ct));
        Assert.Single(await store.ReadTranscriptAsync("c_kept", Ct));
    }

    [Fact]
    public async Task CountActive_CountsAnOwnersRunningAndWaitingConversations_ButNotTheOneAsked()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync(
        [
            new AppendBatch("c_run", [], Row("c_run", 0, "owner-1", status: ConversationStatus.Running)),
            new AppendBatch("c_wait", [], Row("c_wait", 0, "owner-1", status: ConversationStatus.Waiting)),
            new AppendBatch("c_idle", [], Row("c_idle", 0, "owner-1", status: ConversationStatus.Idle)),
            new AppendBatch("c_other", [], Row("c_other", 0, "owner-2", status: ConversationStatus.Running)),
        ], Ct);

        Assert.Equal(2, await store.CountActiveAsync("owner-1", "c_new", Ct));
        Assert.Equal(1, await store.CountActiveAsync("owner-1", "c_run", Ct));
        Assert.Equal(0, await store.CountActiveAsync("owner-3", "c_new", Ct));
    }

    [Fact]
    public async Task TextCarryingSql_StaysData()
    {
        var store = await CreateStoreAsync();
        const string hostile = "'); DROP TABLE events; --";
        await store.AppendAsync([new AppendBatch("c_sql", [Event("c_sql", 1, new UserMessageSent("m_1", hostile))], Row("c_sql", 1, hostile))], Ct);

        Assert.Equal(hostile, ((UserMessageSent)(await store.ReadEventsAsync("c_sql", 0, 10, Ct)).Single().Data).Text);
        Assert.Single(await store.ListConversationsAsync(hostile, 10, Ct));
    }

    [Fact]
    public async Task Usage_AddsUpPerOwnerAndUtcDay_AcrossBatchesAndCommits_AndCopiesCountNothing()
    {
        var store = await CreateStoreAsync();
        var owner = $"spender-{Guid.NewGuid():N}";
        var day = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000 + 1);
        var calls = new AppendBatch("c_use", [
            Event("c_use", 1, new AssistantMessageCompleted("m_1", "hi", new TokenUsage(10, 3))),
            Event("c_use", 2, new ToolCalled("t_1", "x", "{}", new TokenUsage(5, 1))),
            Event("c_use", 3, new RunCompleted(new TokenUsage(15, 4))),
        ], Row("c_use", 3, owner));
        var another = new AppendBatch("c_use2", [Event("c_use2", 1, new MessageInterrupted("m_2", InterruptReasons.ModelError, new TokenUsage(2, 2)))], Row("c_use2", 1, owner));
        await store.AppendAsync([calls, another], Ct);
        // A fork's copies of spent tokens are no new spend.
        await store.AppendAsync([new AppendBatch("c_copy", [Event("c_copy", 1, new AssistantMessageCompleted("m_1", "hi", new TokenUsage(100, 100)))], Row("c_copy", 1, owner), CountsUsage: false)], Ct);
        await store.AppendAsync([new AppendBatch("c_use", [Event("c_use", 4, new AssistantMessageCompleted("m_3", "again", new TokenUsage(1, 1)))], Row("c_use", 4, owner))], Ct);

        // The run's terminal sum is not counted again: only the calls.
        Assert.Equal(new TokenUsage(18, 7), await store.GetUsageAsync(owner, UsageDay.Of(day), Ct));
        Assert.Equal(new TokenUsage(0, 0), await store.GetUsageAsync(owner, UsageDay.Of(day.AddDays(1)), Ct));
        Assert.Equal(new TokenUsage(0, 0), await store.GetUsageAsync("nobody", UsageDay.Of(day), Ct));
    }

    protected static EventEnvelope Event(string conversationId, long seq, ConversationEvent data) =>
        new(seq, conversationId, "r_1", DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000 + seq), data);

    protected static ConversationRecord Row(string id, long lastSeq, string owner = "alice", DateTimeOffset? updated = null, ConversationStatus status = ConversationStatus.Running) =>
        new(id, owner, "title", status, DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000), updated ?? DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000 + lastSeq), lastSeq, null);
}

public sealed class SqliteEventStoreTests : EventStoreContractTests
{
    protected override async Task<IEventStore> CreateStoreAsync()
    {
        var store = SiloProcess.OpenStore(TestEnvironment.NewTempDirectory());
        await store.MigrateAsync();
        return store;
    }

    [Fact]
    public async Task TheSiloMigrateCommand_AppliesTheSchema_AndExitsZero_Twice()
    {
        var directory = TestEnvironment.NewTempDirectory();
        for (var i = 0; i < 2; i++)
        {
            var info = new ProcessStartInfo("dotnet", [SiloProcess.SiloPath, "migrate"]) { WorkingDirectory = directory, RedirectStandardOutput = true };
            info.Environment["ConnectionStrings__Agents"] = "Data Source=agents.db";
            using var process = Process.Start(info)!;
            var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(process.ExitCode == 0, output);
        }

        Assert.Empty(await SiloProcess.OpenStore(directory).ListRunningAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Commits_LeaveTheLogToTheCheckpointer_WhichCopiesItAll_AndTheLogStartsOver()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = TestEnvironment.NewTempDirectory();
        var store = SiloProcess.OpenStore(directory);
        await store.MigrateAsync(ct);
        var wal = new FileInfo(Path.Combine(directory, "agents.db-wal"));
        var text = new string('x', 2_000);
        long seq = 0;
        async Task AppendAsync(int events)
        {
            var batch = Enumerable.Range(0, events).Select(_ => Event("c_wal", ++seq, new MessageDeltaStreamed("m_1", text))).ToList();
            await store.AppendAsync([new AppendBatch("c_wal", batch, Row("c_wal", seq))], ct);
        }

        // Over 1,000 pages of log (4 MB): SQLite would have checkpointed inside a commit and written the log over
        // from its start, so the file would stay near 4 MB.
        for (var i = 0; i < 6; i++)
        {
            await AppendAsync(500);
        }

        wal.Refresh();
        var grown = wal.Length;
        Assert.True(grown > 5_000_000, $"the log is {grown} bytes: a commit checkpointed");

        var (frames, copied) = store.Checkpoint();
        Assert.True(frames > 1_000 && copied == frames, $"{copied} of {frames} frames copied");

        // Copied whole, the log is written again from its start: the file does not grow.
        await AppendAsync(500);
        wal.Refresh();
        Assert.Equal(grown, wal.Length);
        Assert.Equal(seq, (await store.ReadEventsAsync("c_wal", seq - 1, 10, ct)).Single().Seq);
    }
}

/// <summary>One throwaway PostgreSQL server for the test run; each test gets a fresh database.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public Agents.Testing.PostgresServer Server { get; } = new();

    public async ValueTask InitializeAsync() => await Server.StartAsync();

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

public sealed class PostgresEventStoreTests(PostgresFixture postgres) : EventStoreContractTests
{
    protected override async Task<IEventStore> CreateStoreAsync()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("store");
        var store = new PostgresEventStore(
            Microsoft.Extensions.Options.Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresEventStore>.Instance);
        await store.MigrateAsync();
        return store;
    }
}
