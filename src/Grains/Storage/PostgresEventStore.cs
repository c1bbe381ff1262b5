using System.Text;
using Agents.Events;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Agents.Grains.Storage;

/// <summary>
/// The cluster's store: PostgreSQL through Npgsql and Dapper. A group commit is a handful of statements
/// whatever its size (events and rows go in as arrays through <c>unnest</c>), sent in one round trip.
/// </summary>
public sealed partial class PostgresEventStore : DapperEventStore, IEventStore, IAsyncDisposable
{
    // Serializes concurrent migrations from several processes starting at once.
    private const long MigrationLock = 0x4147454E5453; // "AGENTS"

    // A connection string, not an NpgsqlDataSource: Npgsql pools connections per connection string, and Orleans'
    // ADO.NET providers (clustering, reminders, pub-sub storage) open theirs from the same string, so the process has
    // one pool, bounded by its Maximum Pool Size, as docs/scaling.md's sizing rule counts. A data source of our own
    // would be a second pool of that size.
    private readonly string _connectionString;
    private readonly ILogger<PostgresEventStore> _logger;

    public PostgresEventStore(IOptions<StorageOptions> options, ILogger<PostgresEventStore> logger)
    {
        _connectionString = options.Value.ConnectionString;
        _logger = logger;
    }

    public async Task MigrateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@MigrationLock);", new { MigrationLock }, transaction);
        await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS agents_schema_version (version int NOT NULL);", transaction: transaction);
        var current = await connection.ExecuteScalarAsync<int?>("SELECT MAX(version) FROM agents_schema_version;", transaction: transaction) ?? 0;
        for (var version = current + 1; version <= PostgresSchema.Migrations.Count; version++)
        {
            await connection.ExecuteAsync(PostgresSchema.Migrations[version - 1], transaction: transaction);
            await connection.ExecuteAsync("INSERT INTO agents_schema_version (version) VALUES (@version);", new { version }, transaction);
            LogMigrated(version);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task AppendAsync(IReadOnlyList<AppendBatch> batches, CancellationToken cancellationToken = default)
    {
        // One command of several statements: Npgsql sends them in one round trip, ended by one Sync, and PostgreSQL
        // runs them as one implicit transaction, all or nothing, as BEGIN ... COMMIT would, without BEGIN ... COMMIT's
        // extra round trips (one per statement, and the commit).
        var sql = new StringBuilder();
        var parameters = new DynamicParameters();
        var events = batches.SelectMany(b => b.Events).ToList();
        if (events.Count > 0)
        {
            sql.AppendLine(
                """
                INSERT INTO events (conversation_id, seq, run_id, type, at, data)
                SELECT * FROM unnest(@Conversations::text[], @Seqs::bigint[], @Runs::text[], @Types::text[], @Ats::bigint[], @Data::text[]);
                """);
            parameters.AddDynamicParams(new
            {
                Conversations = events.Select(e => e.ConversationId).ToArray(),
                Seqs = events.Select(e => e.Seq).ToArray(),
                Runs = events.Select(e => e.RunId).ToArray(),
                Types = events.Select(e => e.Type).ToArray(),
                Ats = events.Select(e => e.At.ToUnixTimeMilliseconds()).ToArray(),
                Data = events.Select(e => e.DataJson).ToArray(),
            });
        }

        var rows = batches.Where(b => b.StoresRow).Select(b => b.Conversation).GroupBy(c => c.Id).Select(g => StoreRows.ConversationRow.From(g.Last())).ToList();
        if (rows.Count > 0)
        {
            sql.AppendLine(
                """
                INSERT INTO conversations (id, owner, title, status, created_at, updated_at, last_seq, last_outcome, parent_id, depth, forked_from, forked_after_seq)
                SELECT * FROM unnest(@Ids::text[], @Owners::text[], @Titles::text[], @Statuses::text[], @Created::bigint[], @Updated::bigint[], @LastSeqs::bigint[], @Outcomes::text[], @Parents::text[], @Depths::integer[], @Forks::text[], @ForkSeqs::bigint[])
                ON CONFLICT (id) DO UPDATE SET
                    title = excluded.title, status = excluded.status, updated_at = excluded.updated_at,
                    last_seq = excluded.last_seq, last_outcome = excluded.last_outcome;
                """);
            parameters.AddDynamicParams(new
            {
                Ids = rows.Select(r => r.Id).ToArray(),
                Owners = rows.Select(r => r.Owner).ToArray(),
                Titles = rows.Select(r => r.Title).ToArray(),
                Statuses = rows.Select(r => r.Status).ToArray(),
                Created = rows.Select(r => r.CreatedAt).ToArray(),
                Updated = rows.Select(r => r.UpdatedAt).ToArray(),
                LastSeqs = rows.Select(r => r.LastSeq).ToArray(),
                Outcomes = rows.Select(r => r.LastOutcome).ToArray(),
                Parents = rows.Select(r => r.ParentId).ToArray(),
                Depths = rows.Select(r => (int)r.Depth).ToArray(),
                Forks = rows.Select(r => r.ForkedFrom).ToArray(),
                ForkSeqs = rows.Select(r => r.ForkedAfterSeq).ToArray(),
            });
        }

        // Snapshots and transcripts too go in one statement each, not one round trip per row.
        var snapshots = batches.Where(b => b.Snapshot is not null).Select(b => b.Snapshot!).GroupBy(s => s.ConversationId).Select(g => g.Last()).ToList();
        if (snapshots.Count > 0)
        {
            sql.AppendLine(
                """
                INSERT INTO snapshots (conversation_id, seq, state)
                SELECT * FROM unnest(@SnapshotIds::text[], @SnapshotSeqs::bigint[], @SnapshotStates::text[])
                ON CONFLICT (conversation_id) DO UPDATE SET seq = excluded.seq, state = excluded.state;
                """);
            parameters.AddDynamicParams(new
            {
                SnapshotIds = snapshots.Select(s => s.ConversationId).ToArray(),
                SnapshotSeqs = snapshots.Select(s => s.Seq).ToArray(),
                SnapshotStates = snapshots.Select(s => s.State).ToArray(),
            });
        }

        var transcripts = batches.Where(b => b.Transcript is not null).Select(b => StoreRows.TranscriptRow.From(b.Transcript!)).ToList();
        if (transcripts.Count > 0)
        {
            sql.AppendLine(
                """
                INSERT INTO transcripts (conversation_id, run_id, owner, outcome, started_at, ended_at, last_seq, transcript)
                SELECT * FROM unnest(@TranscriptIds::text[], @TranscriptRuns::text[], @TranscriptOwners::text[], @TranscriptOutcomes::text[], @TranscriptStarted::bigint[], @TranscriptEnded::bigint[], @TranscriptLastSeqs::bigint[], @TranscriptTranscripts::text[])
                ON CONFLICT (conversation_id, run_id) DO UPDATE SET
                    outcome = excluded.outcome, ended_at = excluded.ended_at, last_seq = excluded.last_seq, transcript = excluded.transcript;
                """);
            parameters.AddDynamicParams(new
            {
                TranscriptIds = transcripts.Select(t => t.ConversationId).ToArray(),
                TranscriptRuns = transcripts.Select(t => t.RunId).ToArray(),
                TranscriptOwners = transcripts.Select(t => t.Owner).ToArray(),
                TranscriptOutcomes = transcripts.Select(t => t.Outcome).ToArray(),
                TranscriptStarted = transcripts.Select(t => t.StartedAt).ToArray(),
                TranscriptEnded = transcripts.Select(t => t.EndedAt).ToArray(),
                TranscriptLastSeqs = transcripts.Select(t => t.LastSeq).ToArray(),
                TranscriptTranscripts = transcripts.Select(t => t.Transcript).ToArray(),
            });
        }

        var usage = StoreRows.UsageRow.From(batches);
        if (usage.Count > 0)
        {
            sql.AppendLine(
                """
                INSERT INTO user_usage (owner, day, input_tokens, output_tokens)
                SELECT * FROM unnest(@UsageOwners::text[], @UsageDays::text[], @UsageInputs::bigint[], @UsageOutputs::bigint[])
                ON CONFLICT (owner, day) DO UPDATE SET
                    input_tokens = user_usage.input_tokens + excluded.input_tokens,
                    output_tokens = user_usage.output_tokens + excluded.output_tokens;
                """);
            parameters.AddDynamicParams(new
            {
                UsageOwners = usage.Select(u => u.Owner).ToArray(),
                UsageDays = usage.Select(u => u.Day).ToArray(),
                UsageInputs = usage.Select(u => u.InputTokens).ToArray(),
                UsageOutputs = usage.Select(u => u.OutputTokens).ToArray(),
            });
        }

        await using var connection = await OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(sql.ToString(), parameters, cancellationToken: cancellationToken));
    }

    public bool IsDuplicate(Exception exception) => exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    public async Task CheckWritableAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        if (await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_is_in_recovery();", cancellationToken: cancellationToken)))
        {
            throw new InvalidOperationException("The database is a read-only replica.");
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected override async Task<System.Data.Common.DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await OpenAsync(cancellationToken);

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied PostgreSQL schema version {Version}")]
    private partial void LogMigrated(int version);
}
