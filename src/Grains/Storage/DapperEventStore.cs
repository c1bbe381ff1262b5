using System.Data.Common;
using Agents.Events;
using Dapper;

namespace Agents.Grains.Storage;

/// <summary>
/// The reads both stores share: the same tables, the same Dapper queries; a store brings its connections and
/// its writes.
/// </summary>
public abstract class DapperEventStore
{
    /// <summary>An open connection to the database.</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    public async Task<IReadOnlyList<EventEnvelope>> ReadEventsAsync(string conversationId, long afterSeq, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<StoreRows.EventRow>(
            new CommandDefinition(StoreRows.SelectEvents, new { conversationId, afterSeq, limit }, cancellationToken: cancellationToken));
        return rows.Select(r => r.ToEnvelope(conversationId)).ToList();
    }

    public async Task<TokenUsage> GetUsageAsync(string owner, string day, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleAsync<TokenUsage>(
            new CommandDefinition(StoreRows.UsageRow.Select, new { owner, day }, cancellationToken: cancellationToken));
    }

    public async Task<ConversationRecord?> GetConversationAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<StoreRows.ConversationRow>(
            new CommandDefinition(StoreRows.ConversationRow.Select + " WHERE id = @conversationId;", new { conversationId }, cancellationToken: cancellationToken));
        return row?.ToRecord();
    }

    public async Task<IReadOnlyList<ConversationRecord>> ListConversationsAsync(string owner, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<StoreRows.ConversationRow>(
            new CommandDefinition(
                StoreRows.ConversationRow.Select + " WHERE owner = @owner AND parent_id IS NULL ORDER BY updated_at DESC, id DESC LIMIT @limit;",
                new { owner, limit },
                cancellationToken: cancellationToken));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    public async Task<IReadOnlyList<ConversationRecord>> ListChildrenAsync(string parentId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<StoreRows.ConversationRow>(
            new CommandDefinition(
                StoreRows.ConversationRow.Select + " WHERE parent_id = @parentId ORDER BY created_at, id;",
                new { parentId },
                cancellationToken: cancellationToken));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    public async Task<IReadOnlyList<string>> ListRunningAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        // The partial index holds the unfinished ones; of those, the waiting need no loop.
        var ids = await connection.QueryAsync<string>(
            new CommandDefinition("SELECT id FROM conversations WHERE status <> 'idle' AND status = 'running';", cancellationToken: cancellationToken));
        return ids.ToList();
    }

    public async Task<int> CountActiveAsync(string owner, string exceptConversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int>(
            new CommandDefinition(
                "SELECT COUNT(*) FROM conversations WHERE owner = @owner AND status <> 'idle' AND id <> @exceptConversationId;",
                new { owner, exceptConversationId },
                cancellationToken: cancellationToken));
    }

    public async Task DeleteConversationAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(
            new CommandDefinition(
                """
                DELETE FROM events WHERE conversation_id = @conversationId;
                DELETE FROM snapshots WHERE conversation_id = @conversationId;
                DELETE FROM transcripts WHERE conversation_id = @conversationId;
                DELETE FROM conversations WHERE id = @conversationId;
                """,
                new { conversationId },
                transaction,
                cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<SnapshotRecord?> ReadSnapshotAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<SnapshotRecord>(
            new CommandDefinition(StoreRows.SelectSnapshot, new { conversationId }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<TranscriptRecord>> ReadTranscriptAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<StoreRows.TranscriptRow>(
            new CommandDefinition(StoreRows.TranscriptRow.Select, new { conversationId }, cancellationToken: cancellationToken));
        return rows.Select(r => r.ToRecord()).ToList();
    }
}
