namespace Agents.Grains.Storage;

/// <summary>
/// Our tables on PostgreSQL as an append-only list of migrations: version N is <c>Migrations[N - 1]</c>.
/// Never edit a shipped migration; add the next one.
/// </summary>
internal static class PostgresSchema
{
    public static readonly IReadOnlyList<string> Migrations =
    [
        """
        CREATE TABLE conversations (
            id           text   NOT NULL PRIMARY KEY,
            owner        text   NOT NULL,
            title        text   NOT NULL,
            status       text   NOT NULL,
            created_at   bigint NOT NULL,
            updated_at   bigint NOT NULL,
            last_seq     bigint NOT NULL,
            last_outcome text   NULL
        );
        CREATE INDEX ix_conversations_owner_updated ON conversations (owner, updated_at DESC);
        CREATE INDEX ix_conversations_unfinished ON conversations (status) WHERE status <> 'idle';

        CREATE TABLE events (
            conversation_id text   NOT NULL,
            seq             bigint NOT NULL,
            run_id          text   NULL,
            type            text   NOT NULL,
            at              bigint NOT NULL,
            data            text   NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        );

        CREATE TABLE snapshots (
            conversation_id text   NOT NULL PRIMARY KEY,
            seq             bigint NOT NULL,
            state           text   NOT NULL
        );

        CREATE TABLE transcripts (
            conversation_id text    NOT NULL,
            run_id          text    NOT NULL,
            owner           text    NOT NULL,
            outcome         text    NOT NULL,
            started_at      bigint  NOT NULL,
            ended_at        bigint  NOT NULL,
            last_seq        bigint  NOT NULL,
            transcript      text    NOT NULL,
            PRIMARY KEY (conversation_id, run_id)
        );
        """,
        // Sub-agents: a child names its parent; listing shows the top level, a parent lists its children.
        """
        ALTER TABLE conversations ADD COLUMN parent_id text NULL;
        ALTER TABLE conversations ADD COLUMN depth integer NOT NULL DEFAULT 0;
        CREATE INDEX ix_conversations_parent ON conversations (parent_id, created_at) WHERE parent_id IS NOT NULL;
        """,
        // Token budgets: each user's spend per UTC day, added up with the events that report it.
        """
        CREATE TABLE user_usage (
            owner         text    NOT NULL,
            day           text    NOT NULL,
            input_tokens  bigint  NOT NULL,
            output_tokens bigint  NOT NULL,
            PRIMARY KEY (owner, day)
        );
        """,
        // Fork: where a conversation's copied prefix came from.
        """
        ALTER TABLE conversations ADD COLUMN forked_from text NULL;
        ALTER TABLE conversations ADD COLUMN forked_after_seq bigint NULL;
        """,
    ];
}
