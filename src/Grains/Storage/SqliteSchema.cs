namespace Agents.Grains.Storage;

/// <summary>
/// The SQLite schema as an append-only list of migrations: version N is <c>Migrations[N - 1]</c>.
/// Never edit a shipped migration; add the next one.
/// </summary>
internal static class SqliteSchema
{
    public static readonly IReadOnlyList<string> Migrations =
    [
        """
        CREATE TABLE conversations (
            id           TEXT    NOT NULL PRIMARY KEY,
            owner        TEXT    NOT NULL,
            title        TEXT    NOT NULL,
            status       TEXT    NOT NULL,
            created_at   INTEGER NOT NULL,
            updated_at   INTEGER NOT NULL,
            last_seq     INTEGER NOT NULL,
            last_outcome TEXT    NULL
        );
        CREATE INDEX ix_conversations_owner_updated ON conversations (owner, updated_at DESC);
        CREATE INDEX ix_conversations_unfinished ON conversations (status) WHERE status <> 'idle';

        CREATE TABLE events (
            conversation_id TEXT    NOT NULL,
            seq             INTEGER NOT NULL,
            run_id          TEXT    NULL,
            type            TEXT    NOT NULL,
            at              INTEGER NOT NULL,
            data            TEXT    NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        ) WITHOUT ROWID;

        CREATE TABLE snapshots (
            conversation_id TEXT    NOT NULL PRIMARY KEY,
            seq             INTEGER NOT NULL,
            state           TEXT    NOT NULL
        );

        CREATE TABLE transcripts (
            conversation_id TEXT    NOT NULL,
            run_id          TEXT    NOT NULL,
            owner           TEXT    NOT NULL,
            outcome         TEXT    NOT NULL,
            started_at      INTEGER NOT NULL,
            ended_at        INTEGER NOT NULL,
            last_seq        INTEGER NOT NULL,
            transcript      TEXT    NOT NULL,
            PRIMARY KEY (conversation_id, run_id)
        );
        """,
        // Sub-agents: a child names its parent; listing shows the top level, a parent lists its children.
        """
        ALTER TABLE conversations ADD COLUMN parent_id TEXT NULL;
        ALTER TABLE conversations ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX ix_conversations_parent ON conversations (parent_id, created_at) WHERE parent_id IS NOT NULL;
        """,
        // Token budgets: each user's spend per UTC day, added up with the events that report it.
        """
        CREATE TABLE user_usage (
            owner         TEXT    NOT NULL,
            day           TEXT    NOT NULL,
            input_tokens  INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            PRIMARY KEY (owner, day)
        );
        """,
        // Fork: where a conversation's copied prefix came from.
        """
        ALTER TABLE conversations ADD COLUMN forked_from TEXT NULL;
        ALTER TABLE conversations ADD COLUMN forked_after_seq INTEGER NULL;
        """,
    ];
}
