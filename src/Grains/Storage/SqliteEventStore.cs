using Agents.Events;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Grains.Storage;

/// <summary>
/// The embedded default: one SQLite file in WAL mode. Many readers, one writer at a time; the
/// <see cref="EventLogWriter"/> makes that one writer carry every conversation's appends.
/// </summary>
public sealed partial class SqliteEventStore : DapperEventStore, IEventStore
{
    private readonly string _connectionString;
    private readonly string _writerPragmas;
    private readonly ILogger<SqliteEventStore> _logger;

    public SqliteEventStore(IOptions<StorageOptions> options, ILogger<SqliteEventStore> logger)
    {
        var builder = new SqliteConnectionStringBuilder(options.Value.ConnectionString)
        {
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Microsoft.Data.Sqlite retries a locked database until the command timeout (whole seconds).
            DefaultTimeout = (int)Math.Max(1, Math.Ceiling(options.Value.SqliteBusyTimeout.TotalSeconds)),
        };
        _connectionString = builder.ToString();
        _writerPragmas = (options.Value.Synchronous == SqliteSynchronous.Normal ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=FULL;")
            + (options.Value.SqliteCheckpointPeriod > TimeSpan.Zero ? "PRAGMA wal_autocheckpoint=0;" : "");
        _logger = logger;

        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
    }

    /// <summary>The path of the database file.</summary>
    public string DataSource => new SqliteConnectionStringBuilder(_connectionString).DataSource;

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // WAL is a property of the file: set once, it stays.
        await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
        await using var transaction = connection.BeginTransaction(deferred: false);
        await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", transaction: transaction);
        var current = await connection.ExecuteScalarAsync<long?>("SELECT MAX(version) FROM schema_version;", transaction: transaction) ?? 0;
        for (var version = (int)current + 1; version <= SqliteSchema.Migrations.Count; version++)
        {
            await connection.ExecuteAsync(SqliteSchema.Migrations[version - 1], transaction: transaction);
            await connection.ExecuteAsync("INSERT INTO schema_version (version) VALUES (@version);", new { version }, transaction);
            LogMigrated(version);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task AppendAsync(IReadOnlyList<AppendBatch> batches, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);

        // One prepared statement executed per row: SQLite runs in-process, so rows cost no round trips, and
        // re-binding a prepared statement is cheaper than building one statement with many parameters.
        var events = batches.SelectMany(b => b.Events).Select(e => new
        {
            e.ConversationId,
            e.Seq,
            e.RunId,
            Type = e.Type,
            At = e.At.ToUnixTimeMilliseconds(),
            Data = e.DataJson,
        });
        await connection.ExecuteAsync(
            "INSERT INTO events (conversation_id, seq, run_id, type, at, data) VALUES (@ConversationId, @Seq, @RunId, @Type, @At, @Data);",
            events,
            transaction);

        // Several batches of one conversation may share a transaction: only its last row and snapshot matter.
        foreach (var conversation in batches.Where(b => b.StoresRow).Select(b => b.Conversation).GroupBy(c => c.Id).Select(g => g.Last()))
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO conversations (id, owner, title, status, created_at, updated_at, last_seq, last_outcome, parent_id, depth, forked_from, forked_after_seq)
                VALUES (@Id, @Owner, @Title, @Status, @CreatedAt, @UpdatedAt, @LastSeq, @LastOutcome, @ParentId, @Depth, @ForkedFrom, @ForkedAfterSeq)
                ON CONFLICT (id) DO UPDATE SET
                    title = excluded.title, status = excluded.status, updated_at = excluded.updated_at,
                    last_seq = excluded.last_seq, last_outcome = excluded.last_outcome;
                """,
                StoreRows.ConversationRow.From(conversation),
                transaction);
        }

        foreach (var snapshot in batches.Where(b => b.Snapshot is not null).Select(b => b.Snapshot!).GroupBy(s => s.ConversationId).Select(g => g.Last()))
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO snapshots (conversation_id, seq, state) VALUES (@ConversationId, @Seq, @State)
                ON CONFLICT (conversation_id) DO UPDATE SET seq = excluded.seq, state = excluded.state;
                """,
                snapshot,
                transaction);
        }

        var transcripts = batches.Where(b => b.Transcript is not null).Select(b => StoreRows.TranscriptRow.From(b.Transcript!)).ToList();
        if (transcripts.Count > 0)
        {
            await connection.ExecuteAsync(StoreRows.TranscriptRow.Upsert, transcripts, transaction);
        }

        var usage = StoreRows.UsageRow.From(batches);
        if (usage.Count > 0)
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO user_usage (owner, day, input_tokens, output_tokens) VALUES (@Owner, @Day, @InputTokens, @OutputTokens)
                ON CONFLICT (owner, day) DO UPDATE SET
                    input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens;
                """,
                usage,
                transaction);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Microsoft.Data.Sqlite runs every command synchronously, its async methods included.</summary>
    public bool CommitsBlock => true;

    public bool IsDuplicate(Exception exception) => exception is SqliteException { SqliteErrorCode: 19 }; // SQLITE_CONSTRAINT

    public async Task CheckWritableAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // Taking the write lock and letting it go proves the file is writable and not locked by someone else.
        await using var transaction = connection.BeginTransaction(deferred: false);
        await transaction.RollbackAsync(cancellationToken);
    }

    /// <summary>
    /// Copies what it can of the write-ahead log into the database file without waiting for readers or the writer
    /// (<see cref="SqliteCheckpointer"/> calls it); returns the log's frames and how many of them are in the file now.
    /// </summary>
    public (long LogFrames, long Checkpointed) Checkpoint()
    {
        using var connection = OpenAsync(CancellationToken.None).GetAwaiter().GetResult();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>A connection for the shared reads and the delete: the commit's durability setting is the writer's business.</summary>
    protected override async Task<System.Data.Common.DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>A connection for commits, with <c>synchronous</c> as configured (a per-connection setting in SQLite).</summary>
    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = _writerPragmas;
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied SQLite schema version {Version}")]
    private partial void LogMigrated(int version);
}
