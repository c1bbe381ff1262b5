using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
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
public sealed partial class SqliteEventStore : IEventStore
{
    private const int RowsPerInsert = 200;
    private static readonly ConcurrentDictionary<int, string> InsertSql = new();

    private readonly string _connectionString;
    private readonly string _synchronousPragma;
    private readonly ILogger<SqliteEventStore> _logger;

    public SqliteEventStore(IOptions<StorageOptions> options, ILogger<SqliteEventStore> logger)
    {
        var builder = new SqliteConnectionStringBuilder(options.Value.ConnectionString)
        {
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        };
        _connectionString = builder.ToString();
        _synchronousPragma = options.Value.Synchronous == SqliteSynchronous.Normal
            ? "PRAGMA synchronous=NORMAL;"
            : "PRAGMA synchronous=FULL;";
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

        var events = batches.SelectMany(b => b.Events).ToList();
        for (var offset = 0; offset < events.Count; offset += RowsPerInsert)
        {
            var count = Math.Min(RowsPerInsert, events.Count - offset);
            var parameters = new DynamicParameters();
            for (var i = 0; i < count; i++)
            {
                var e = events[offset + i];
                var p = i.ToString(CultureInfo.InvariantCulture);
                parameters.Add("c" + p, e.ConversationId);
                parameters.Add("s" + p, e.Seq);
                parameters.Add("r" + p, e.RunId);
                parameters.Add("t" + p, e.Type);
                parameters.Add("a" + p, e.At.ToUnixTimeMilliseconds());
                parameters.Add("d" + p, AgentJson.SerializeData(e.Data));
            }

            await connection.ExecuteAsync(InsertSql.GetOrAdd(count, BuildInsertSql), parameters, transaction);
        }

        // Several batches of one conversation may share a transaction: only its last row and snapshot matter.
        foreach (var conversation in batches.Select(b => b.Conversation).GroupBy(c => c.Id).Select(g => g.Last()))
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO conversations (id, owner, title, status, created_at, updated_at, last_seq, last_outcome)
                VALUES (@Id, @Owner, @Title, @Status, @CreatedAt, @UpdatedAt, @LastSeq, @LastOutcome)
                ON CONFLICT (id) DO UPDATE SET
                    title = excluded.title, status = excluded.status, updated_at = excluded.updated_at,
                    last_seq = excluded.last_seq, last_outcome = excluded.last_outcome;
                """,
                ConversationRow.From(conversation),
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

        foreach (var transcript in batches.Where(b => b.Transcript is not null).Select(b => b.Transcript!).GroupBy(t => t.ConversationId).Select(g => g.Last()))
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO transcripts (conversation_id, owner, title, outcome, last_seq, updated_at, transcript)
                VALUES (@ConversationId, @Owner, @Title, @Outcome, @LastSeq, @UpdatedAt, @Transcript)
                ON CONFLICT (conversation_id) DO UPDATE SET
                    title = excluded.title, outcome = excluded.outcome, last_seq = excluded.last_seq,
                    updated_at = excluded.updated_at, transcript = excluded.transcript;
                """,
                new
                {
                    transcript.ConversationId,
                    transcript.Owner,
                    transcript.Title,
                    Outcome = Names.Of(transcript.Outcome),
                    transcript.LastSeq,
                    UpdatedAt = transcript.UpdatedAt.ToUnixTimeMilliseconds(),
                    transcript.Transcript,
                },
                transaction);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<EventEnvelope>> ReadEventsAsync(string conversationId, long afterSeq, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<EventRow>(
            new CommandDefinition(
                """
                SELECT seq AS Seq, run_id AS RunId, type AS Type, at AS At, data AS Data
                FROM events WHERE conversation_id = @conversationId AND seq > @afterSeq
                ORDER BY seq LIMIT @limit;
                """,
                new { conversationId, afterSeq, limit },
                cancellationToken: cancellationToken));
        return rows.Select(r => r.ToEnvelope(conversationId)).ToList();
    }

    public async Task<ConversationRecord?> GetConversationAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ConversationRow>(
            new CommandDefinition(ConversationRow.Select + " WHERE id = @conversationId;", new { conversationId }, cancellationToken: cancellationToken));
        return row?.ToRecord();
    }

    public async Task<IReadOnlyList<ConversationRecord>> ListConversationsAsync(string owner, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ConversationRow>(
            new CommandDefinition(
                ConversationRow.Select + " WHERE owner = @owner ORDER BY updated_at DESC, id DESC LIMIT @limit;",
                new { owner, limit },
                cancellationToken: cancellationToken));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    public async Task<IReadOnlyList<string>> ListUnfinishedAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var ids = await connection.QueryAsync<string>(
            new CommandDefinition("SELECT id FROM conversations WHERE status <> 'idle';", cancellationToken: cancellationToken));
        return ids.ToList();
    }

    public async Task<SnapshotRecord?> ReadSnapshotAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<SnapshotRecord>(
            new CommandDefinition(
                "SELECT conversation_id AS ConversationId, seq AS Seq, state AS State FROM snapshots WHERE conversation_id = @conversationId;",
                new { conversationId },
                cancellationToken: cancellationToken));
    }

    public async Task<TranscriptRecord?> ReadTranscriptAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<TranscriptRow>(
            new CommandDefinition(
                """
                SELECT conversation_id AS ConversationId, owner AS Owner, title AS Title, outcome AS Outcome,
                       last_seq AS LastSeq, updated_at AS UpdatedAt, transcript AS Transcript
                FROM transcripts WHERE conversation_id = @conversationId;
                """,
                new { conversationId },
                cancellationToken: cancellationToken));
        return row is null
            ? null
            : new TranscriptRecord(row.ConversationId, row.Owner, row.Title, Names.ParseOutcome(row.Outcome), row.LastSeq, DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt), row.Transcript);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = _synchronousPragma;
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    private static string BuildInsertSql(int rows)
    {
        var sql = new StringBuilder("INSERT INTO events (conversation_id, seq, run_id, type, at, data) VALUES ");
        for (var i = 0; i < rows; i++)
        {
            sql.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"(@c{i},@s{i},@r{i},@t{i},@a{i},@d{i})");
        }

        return sql.Append(';').ToString();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied SQLite schema version {Version}")]
    private partial void LogMigrated(int version);

    private sealed class EventRow
    {
        public long Seq { get; init; }
        public string? RunId { get; init; }
        public string Type { get; init; } = "";
        public long At { get; init; }
        public string Data { get; init; } = "";

        public EventEnvelope ToEnvelope(string conversationId) =>
            new(Seq, conversationId, RunId, DateTimeOffset.FromUnixTimeMilliseconds(At), AgentJson.DeserializeData(Type, Data));
    }

    private sealed class TranscriptRow
    {
        public string ConversationId { get; init; } = "";
        public string Owner { get; init; } = "";
        public string Title { get; init; } = "";
        public string? Outcome { get; init; }
        public long LastSeq { get; init; }
        public long UpdatedAt { get; init; }
        public string Transcript { get; init; } = "";
    }

    private sealed class ConversationRow
    {
        public const string Select =
            """
            SELECT id AS Id, owner AS Owner, title AS Title, status AS Status, created_at AS CreatedAt,
                   updated_at AS UpdatedAt, last_seq AS LastSeq, last_outcome AS LastOutcome
            FROM conversations
            """;

        public string Id { get; init; } = "";
        public string Owner { get; init; } = "";
        public string Title { get; init; } = "";
        public string Status { get; init; } = "";
        public long CreatedAt { get; init; }
        public long UpdatedAt { get; init; }
        public long LastSeq { get; init; }
        public string? LastOutcome { get; init; }

        public static ConversationRow From(ConversationRecord r) => new()
        {
            Id = r.Id,
            Owner = r.Owner,
            Title = r.Title,
            Status = Names.Of(r.Status),
            CreatedAt = r.CreatedAt.ToUnixTimeMilliseconds(),
            UpdatedAt = r.UpdatedAt.ToUnixTimeMilliseconds(),
            LastSeq = r.LastSeq,
            LastOutcome = Names.Of(r.LastRunOutcome),
        };

        public ConversationRecord ToRecord() => new(
            Id,
            Owner,
            Title,
            Names.ParseStatus(Status),
            DateTimeOffset.FromUnixTimeMilliseconds(CreatedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt),
            LastSeq,
            Names.ParseOutcome(LastOutcome));
    }
}
