using Npgsql;

namespace Agents.Silo.Postgres;

/// <summary>
/// Creates what the Orleans ADO.NET clustering, reminder and grain storage providers need on PostgreSQL
/// (invariant <c>Npgsql</c>): our tables and indexes, and the <c>OrleansQuery</c> rows the providers read their SQL
/// from at start (a missing key stops a silo with "Not all required queries found").
/// </summary>
/// <remarks>
/// <para>The Orleans packages ship no SQL; this schema and every query text are ours
/// (<see cref="OrleansPostgresQueries"/>). Tables: <c>orleans_membership_version</c>, <c>orleans_membership</c>,
/// <c>orleans_reminder</c>, <c>orleans_grain_state</c>, <c>OrleansQuery</c> (unquoted, as the providers query it) and
/// <c>orleans_schema_version</c>, all in the connection's default schema.</para>
/// <para><see cref="ApplyAsync"/> is idempotent and safe to run from several processes at once: it works in one
/// transaction that first takes a transaction-scoped advisory lock, creates what is missing (only when the recorded
/// version is behind this build's), and upserts every query row, so a newer build replaces older query text and a
/// deleted row comes back. A database already at a newer
/// <see cref="Version"/> is left as it is, so an older silo in a rolling upgrade does not put old query text back.</para>
/// </remarks>
public static class OrleansPostgresSchema
{
    /// <summary>The schema version this build writes to <c>orleans_schema_version</c>; raise it with every change here.</summary>
    public const int Version = 1;

    /// <summary>The <c>orleans_schema_version</c> row this schema owns.</summary>
    public const string Component = "orleans";

    /// <summary>Every <c>OrleansQuery</c> key this schema provides.</summary>
    public static IReadOnlyList<string> QueryKeys { get; } = [.. OrleansPostgresQueries.All.Keys];

    // pg_advisory_xact_lock key: "ORLNSCH" in ASCII, so it is recognisable in pg_locks.
    private const long AdvisoryLockKey = 0x4F524C4E534348;

    private static readonly string[] Tables =
    [
        """
        CREATE TABLE IF NOT EXISTS orleans_schema_version (
            component  text        PRIMARY KEY,
            version    integer     NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Unquoted on purpose: the providers run "SELECT QueryKey, QueryText FROM OrleansQuery".
        """
        CREATE TABLE IF NOT EXISTS OrleansQuery (
            QueryKey  varchar(64) PRIMARY KEY,
            QueryText text        NOT NULL
        )
        """,
        // Clustering: the per-cluster table version (the membership ETag) and one row per silo incarnation.
        """
        CREATE TABLE IF NOT EXISTS orleans_membership_version (
            cluster_id text        PRIMARY KEY,
            version    integer     NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS orleans_membership (
            cluster_id      text        NOT NULL,
            address         text        NOT NULL,
            port            integer     NOT NULL,
            generation      integer     NOT NULL,
            silo_name       text        NOT NULL,
            host_name       text        NOT NULL,
            status          integer     NOT NULL,
            proxy_port      integer     NOT NULL,
            suspect_times   text        NULL,
            start_time      timestamptz NOT NULL,
            i_am_alive_time timestamptz NOT NULL,
            PRIMARY KEY (cluster_id, address, port, generation)
        )
        """,
        // Reminders: keyed by grain and name; grain_hash (signed) serves the ring-range reads.
        """
        CREATE TABLE IF NOT EXISTS orleans_reminder (
            service_id    text        NOT NULL,
            grain_id      text        NOT NULL,
            reminder_name text        NOT NULL,
            grain_hash    integer     NOT NULL,
            start_time    timestamptz NOT NULL,
            period_ms     bigint      NOT NULL,
            version       integer     NOT NULL,
            PRIMARY KEY (service_id, grain_id, reminder_name)
        )
        """,
        "CREATE INDEX IF NOT EXISTS orleans_reminder_by_hash ON orleans_reminder (service_id, grain_hash)",
        // Grain storage: one row per (service, grain type, grain id); payload NULL once cleared.
        """
        CREATE TABLE IF NOT EXISTS orleans_grain_state (
            service_id      text        NOT NULL,
            grain_type_hash integer     NOT NULL,
            grain_type      text        NOT NULL,
            grain_id_hash   integer     NOT NULL,
            grain_id_n0     bigint      NOT NULL,
            grain_id_n1     bigint      NOT NULL,
            grain_id_ext    text        NULL,
            payload         bytea       NULL,
            version         integer     NOT NULL,
            modified_at     timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Lookups lead with the two hashes. The key extension may be NULL (integer and Guid keys without one), and a NULL
        // must not be distinct from another here, so it enters the index as '' while any text enters as its md5 (never '');
        // hashing also keeps long string keys within the btree's entry size.
        """
        CREATE UNIQUE INDEX IF NOT EXISTS orleans_grain_state_identity ON orleans_grain_state
            (grain_id_hash, grain_type_hash, service_id, grain_type, grain_id_n0, grain_id_n1, (coalesce(md5(grain_id_ext), '')))
        """,
    ];

    /// <summary>
    /// Creates or updates the schema and the query rows on the database of <paramref name="connectionString"/>.
    /// Safe to run many times, and concurrently from several processes.
    /// </summary>
    public static async Task ApplyAsync(string connectionString, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);

        await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock(@key)", ct, ("key", AdvisoryLockKey));
        await ExecuteAsync(connection, transaction, Tables[0], ct);

        var applied = await ReadVersionAsync(connection, transaction, ct);
        if (applied > Version)
        {
            // A newer build owns this database; leave its tables and query text alone.
            await transaction.CommitAsync(ct);
            return;
        }

        if (applied != Version)
        {
            // Only when behind: CREATE INDEX IF NOT EXISTS still locks its table, which a running cluster would feel.
            foreach (var statement in Tables.Skip(1))
            {
                await ExecuteAsync(connection, transaction, statement, ct);
            }
        }

        foreach (var (key, text) in OrleansPostgresQueries.All)
        {
            await ExecuteAsync(connection, transaction,
                """
                INSERT INTO OrleansQuery AS q (QueryKey, QueryText) VALUES (@key, @text)
                ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText
                 WHERE q.QueryText IS DISTINCT FROM EXCLUDED.QueryText
                """,
                ct, ("key", key), ("text", text));
        }

        await ExecuteAsync(connection, transaction,
            """
            INSERT INTO orleans_schema_version AS v (component, version, applied_at) VALUES (@component, @version, now())
            ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, applied_at = EXCLUDED.applied_at
             WHERE v.version IS DISTINCT FROM EXCLUDED.version
            """,
            ct, ("component", Component), ("version", Version));

        await transaction.CommitAsync(ct);
    }

    /// <summary>The schema version recorded in the database, or null when <see cref="ApplyAsync"/> never ran there.</summary>
    public static async Task<int?> ReadVersionAsync(string connectionString, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT to_regclass('orleans_schema_version') IS NOT NULL", connection);
        if (await command.ExecuteScalarAsync(ct) is not true)
        {
            return null;
        }

        return await ReadVersionAsync(connection, null, ct);
    }

    private static async Task<int?> ReadVersionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT version FROM orleans_schema_version WHERE component = @component", connection, transaction);
        command.Parameters.AddWithValue("component", Component);
        return await command.ExecuteScalarAsync(ct) is int version ? version : null;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(ct);
    }
}
