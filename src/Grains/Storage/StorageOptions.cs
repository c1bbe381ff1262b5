using System.ComponentModel.DataAnnotations;

namespace Agents.Grains.Storage;

/// <summary>Where and how conversations are stored; bound from <c>Storage</c> and <c>ConnectionStrings:Agents</c>.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>The default database: a file under <c>./data</c>.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=data/agents.db";

    /// <summary><see cref="StorageProvider.Sqlite"/> (default) or <see cref="StorageProvider.Postgres"/>.</summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>From <c>ConnectionStrings:Agents</c>.</summary>
    [Required]
    public string ConnectionString { get; set; } = DefaultSqliteConnectionString;

    /// <summary>
    /// SQLite's durability: <see cref="SqliteSynchronous.Full"/> survives a power cut, <see cref="SqliteSynchronous.Normal"/>
    /// only a crashed process. See docs/architecture.md for the measured price.
    /// </summary>
    public SqliteSynchronous Synchronous { get; set; } = SqliteSynchronous.Full;

    /// <summary>
    /// How often a thread of its own moves SQLite's write-ahead log into the database file (a passive checkpoint,
    /// which never blocks a commit). Zero leaves it to SQLite, which checkpoints inside the commit that fills 1,000
    /// pages of log: that commit, and every conversation's appends behind it, then wait for the copy and its fsync.
    /// </summary>
    public TimeSpan SqliteCheckpointPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most events one group commit writes.</summary>
    [Range(1, 100_000)]
    public int MaxEventsPerCommit { get; set; } = 2_000;

    /// <summary>How long a SQLite statement waits for another writer's lock before it fails (whole seconds, at least 1).</summary>
    public TimeSpan SqliteBusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a failing commit is retried before the appends fail.</summary>
    public TimeSpan CommitRetryBudget { get; set; } = TimeSpan.FromSeconds(30);
}

public enum StorageProvider
{
    Sqlite,
    Postgres,
}

public enum SqliteSynchronous
{
    Full,
    Normal,
}
