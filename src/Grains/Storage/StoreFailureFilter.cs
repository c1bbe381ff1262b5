using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace Agents.Grains.Storage;

/// <summary>
/// A call that failed on the database reaches its caller as <c>unavailable</c>. The driver's own exception
/// (Npgsql's, SQLite's) has no Orleans codec, so without this the gateway got a serialization failure instead of
/// the error, and a 500 or a broken watch instead of something a client can retry.
/// </summary>
public sealed partial class StoreFailureFilter(ILogger<StoreFailureFilter> logger) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception ex) when (DatabaseErrorIn(ex) is { } database)
        {
            LogStoreFailure(ex, context.InterfaceMethod?.Name ?? context.MethodName, context.TargetId.ToString());
            throw ConversationException.Unavailable($"the database could not serve the request ({database.GetType().Name}); retry shortly");
        }
    }

    private static DbException? DatabaseErrorIn(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is DbException database)
            {
                return database;
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} on {Grain} failed on the database; the caller gets unavailable")]
    private partial void LogStoreFailure(Exception exception, string method, string grain);
}
