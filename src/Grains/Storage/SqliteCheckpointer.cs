using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Grains.Storage;

/// <summary>
/// Moves SQLite's write-ahead log into the database file every <see cref="StorageOptions.SqliteCheckpointPeriod"/>,
/// on a thread of its own, so that no group commit carries a checkpoint (the writer's connections turn SQLite's own
/// off). A passive checkpoint neither waits for nor blocks the writer; the log starts over once one has copied it all.
/// </summary>
public sealed partial class SqliteCheckpointer(SqliteEventStore store, IOptions<StorageOptions> options, ILogger<SqliteCheckpointer> logger)
    : BackgroundService
{
    // Blocking waits and calls are the point: SQLite's are synchronous, and this thread does nothing else.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => OwnThread.Run("SQLite checkpoint", () =>
    {
        while (!stoppingToken.WaitHandle.WaitOne(options.Value.SqliteCheckpointPeriod))
        {
            try
            {
                var (frames, copied) = store.Checkpoint();
                if (frames > 0 && copied < frames)
                {
                    LogPartial(frames, copied);
                }
            }
            catch (Exception ex)
            {
                // The next period tries again; the log only grows meanwhile, and commits go on.
                LogFailed(ex);
            }
        }
    });

    [LoggerMessage(Level = LogLevel.Debug, Message = "SQLite checkpoint copied {Copied} of {Frames} log frames (readers held the rest)")]
    private partial void LogPartial(long frames, long copied);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite checkpoint failed; the next one tries again")]
    private partial void LogFailed(Exception exception);
}
