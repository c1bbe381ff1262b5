using Agents.Events;
using Agents.Grains.Conversations;
using Agents.Grains.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Agents.Grains.Tests;

/// <summary>
/// The log on its own, with no silo: a real SQLite file and the real group-commit writer, and the log driven from one
/// exclusive scheduler as a grain's turns drive it. The publisher is a function that looks in the store each time it is
/// handed a batch.
/// </summary>
public sealed class ConversationLogTests
{
    private const string Alice = "alice";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryBatch_IsPublishedInSeqOrder_OnlyOnceItIsStored()
    {
        await using var setup = await LogSetup.StartAsync(TimeSpan.FromSeconds(30));
        var published = new List<EventEnvelope>();
        var notStoredWhenPublished = new List<long>();
        var infoAheadOfStore = new List<long>();
        var log = setup.NewLog(async batch =>
        {
            var stored = await setup.Store.ReadEventsAsync(setup.Id, 0, ContractLimits.MaxEventsPage, CancellationToken.None);
            var storedSeqs = stored.Select(e => e.Seq).ToHashSet();
            notStoredWhenPublished.AddRange(batch.Select(e => e.Seq).Where(seq => !storedSeqs.Contains(seq)));
            published.AddRange(batch);
        });

        var last = await setup.OnLogScheduler(async () =>
        {
            log.Begin(Alice, "a title");
            await log.AppendAsync("r_1", new UserMessageSent("m_1", "hello"), new RunStarted());
            // Streamed text does not wait for its writes: many appends are in flight at once.
            var pending = new List<AppendedBatch>();
            for (var i = 0; i < 200; i++)
            {
                pending.Add(log.Append("r_1", new MessageDeltaStreamed("m_2", $"{i} ")));
                var info = log.Info.LastSeq;
                var stored = (await setup.Store.GetConversationAsync(setup.Id, CancellationToken.None))?.LastSeq ?? 0;
                if (info > stored)
                {
                    infoAheadOfStore.Add(info);
                }
            }

            var text = string.Concat(Enumerable.Range(0, 200).Select(i => $"{i} "));
            var end = await log.AppendAsync("r_1", new AssistantMessageCompleted("m_2", text, new TokenUsage(7, 200)), new RunCompleted(new TokenUsage(7, 200)));
            await Task.WhenAll(pending.Select(p => p.Durable));
            await log.WhenPublished();
            return end[^1].Seq;
        });

        Assert.Equal(204, last);
        Assert.Empty(notStoredWhenPublished);
        Assert.Empty(infoAheadOfStore);
        Assert.Equal(Enumerable.Range(1, 204).Select(i => (long)i), published.Select(e => e.Seq));
        var stored = await setup.Store.ReadEventsAsync(setup.Id, 0, ContractLimits.MaxEventsPage, Ct);
        Assert.Equal(stored.Select(e => (e.Seq, e.Type)), published.Select(e => (e.Seq, e.Type)));
        LogInvariants.AssertHold(stored);
        Assert.Equal(ConversationStatus.Idle, log.Info.Status);
    }

    [Fact]
    public async Task AWriteThatFailsForGood_BreaksTheLog_AndPublishesNothingOfIt()
    {
        // A short budget, so the writer gives up while SQLite is locked by another connection.
        await using var setup = await LogSetup.StartAsync(TimeSpan.FromMilliseconds(300));
        var published = new List<EventEnvelope>();
        var broken = new List<Exception>();
        var log = setup.NewLog(batch =>
        {
            published.AddRange(batch);
            return Task.CompletedTask;
        }, broken.Add);

        await setup.OnLogScheduler(async () =>
        {
            log.Begin(Alice, "a title");
            await log.AppendAsync("r_1", new UserMessageSent("m_1", "hello"), new RunStarted());
            await log.WhenPublished();
        });
        Assert.Equal([1L, 2L], published.Select(e => e.Seq));

        await using (var blocker = new SqliteConnection(setup.ConnectionString))
        {
            await blocker.OpenAsync(Ct);
            await using var command = blocker.CreateCommand();
            command.CommandText = "BEGIN EXCLUSIVE;";
            await command.ExecuteNonQueryAsync(Ct);

            await setup.OnLogScheduler(async () =>
            {
                var failing = log.Append("r_1", new MessageDeltaStreamed("m_2", "lost"));
                var behind = log.Append("r_1", new MessageDeltaStreamed("m_2", " also lost"));
                await Assert.ThrowsAnyAsync<Exception>(() => failing.Durable);
                await Assert.ThrowsAnyAsync<Exception>(() => behind.Durable);
                await log.WhenPublished();
                Assert.True(log.IsBroken);
                // Nothing goes on top of a failed write, and what is reported stays at the last durable event.
                Assert.Throws<InvalidOperationException>(() => log.Append("r_1", new MessageDeltaStreamed("m_2", "refused")));
                Assert.Equal(2, log.Info.LastSeq);
            });

            command.CommandText = "ROLLBACK;";
            await command.ExecuteNonQueryAsync(Ct);
        }

        Assert.Single(broken);
        Assert.Equal([1L, 2L], published.Select(e => e.Seq));
        Assert.Equal(2, (await setup.Store.ReadEventsAsync(setup.Id, 0, 100, Ct)).Count);
    }

    /// <summary>A SQLite file with our schema, a started writer, and one exclusive scheduler standing for the grain's.</summary>
    private sealed class LogSetup : IAsyncDisposable
    {
        private readonly TaskScheduler _turns = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;
        private readonly string _directory;
        private readonly EventLogWriter _writer;

        private LogSetup(string directory, SqliteEventStore store, EventLogWriter writer)
        {
            (_directory, Store, _writer) = (directory, store, writer);
            ConnectionString = $"Data Source={Path.Combine(directory, "agents.db")}";
        }

        public SqliteEventStore Store { get; }

        public string ConnectionString { get; }

        public string Id { get; } = Ids.NewConversationId();

        public static async Task<LogSetup> StartAsync(TimeSpan commitRetryBudget)
        {
            var directory = TestEnvironment.NewTempDirectory();
            var options = Options.Create(new StorageOptions
            {
                ConnectionString = $"Data Source={Path.Combine(directory, "agents.db")}",
                CommitRetryBudget = commitRetryBudget,
                SqliteBusyTimeout = TimeSpan.FromMilliseconds(100),
            });
            var store = new SqliteEventStore(options, NullLogger<SqliteEventStore>.Instance);
            await store.MigrateAsync(Ct);
            var writer = new EventLogWriter(store, options, NullLogger<EventLogWriter>.Instance);
            await writer.StartAsync(Ct);
            return new LogSetup(directory, store, writer);
        }

        public ConversationLog NewLog(Func<EventEnvelope[], Task> publish, Action<Exception>? onBroken = null) =>
            new(Id, Store, _writer, publish, maxEvents: 100_000, snapshotEvery: 50, TimeProvider.System, onBroken ?? (_ => { }), NullLogger.Instance);

        /// <summary>Runs <paramref name="work"/> and all its continuations one at a time, as a grain's turns run.</summary>
        public Task<T> OnLogScheduler<T>(Func<Task<T>> work) =>
            Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.None, _turns).Unwrap();

        public Task OnLogScheduler(Func<Task> work) =>
            Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.None, _turns).Unwrap();

        public async ValueTask DisposeAsync()
        {
            await _writer.StopAsync(CancellationToken.None);
            _writer.Dispose();
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open is left for the temp folder's cleanup.
            }
        }
    }
}
