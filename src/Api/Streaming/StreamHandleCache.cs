using System.Collections.Concurrent;
using System.Reflection;
using Orleans.Streams;

namespace Agents.Api.Streaming;

/// <summary>
/// The stream handles Orleans keeps for this gateway, and a way to let go of one. Outside a grain, the stream
/// provider caches every <see cref="IAsyncStream{T}"/> it hands out for the life of the process and never drops one
/// (its <c>StreamDirectory</c>; dotnet/orleans#5748): one per conversation this gateway has ever watched, a few hundred
/// bytes each, which the soak showed growing without end. The cache is internal to Orleans, so it is reached by
/// reflection; if an Orleans upgrade moves it, <see cref="IsAvailable"/> turns false, a warning is logged and handles
/// accumulate as before — a test checks that it is found.
/// </summary>
public sealed partial class StreamHandleCache
{
    private readonly ConcurrentDictionary<QualifiedStreamId, object>? _handles;

    public StreamHandleCache(IClusterClient client, ILogger<StreamHandleCache> logger)
    {
        try
        {
            _handles = Find(client.ServiceProvider);
        }
        catch (Exception ex) when (ex is TargetInvocationException or InvalidOperationException or MemberAccessException)
        {
            LogUnavailable(logger, ex);
            return;
        }

        if (_handles is null)
        {
            LogUnavailable(logger, null);
        }
    }

    /// <summary>Whether the cache was found, so that <see cref="Forget"/> does something.</summary>
    public bool IsAvailable => _handles is not null;

    /// <summary>Whether a handle of the stream is cached.</summary>
    public bool Contains(StreamId stream) => _handles?.ContainsKey(Key(stream)) ?? false;

    /// <summary>
    /// Drops the cached handle of a stream nobody here uses any more. Harmless if someone still holds it: a handle
    /// works without the cache, and the next request for the stream creates a new one.
    /// </summary>
    public void Forget(StreamId stream) => _handles?.TryRemove(Key(stream), out _);

    private static QualifiedStreamId Key(StreamId stream) => new(AgentNames.StreamProvider, stream);

    private static ConcurrentDictionary<QualifiedStreamId, object>? Find(IServiceProvider services)
    {
        // IStreamProviderRuntime.GetStreamDirectory(): outside a grain (always, in a gateway) the client's one directory.
        var runtimeType = typeof(QualifiedStreamId).Assembly.GetType("Orleans.Streams.IStreamProviderRuntime");
        var runtime = runtimeType is null ? null : services.GetService(runtimeType);
        var directory = runtimeType?.GetMethod("GetStreamDirectory", Type.EmptyTypes)?.Invoke(runtime, null);
        return directory?.GetType()
            .GetField("allStreams", BindingFlags.Instance | BindingFlags.NonPublic)?
            .GetValue(directory) as ConcurrentDictionary<QualifiedStreamId, object>;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orleans' stream handle cache was not found; this gateway keeps a handle for every conversation it has watched until it restarts")]
    private static partial void LogUnavailable(ILogger logger, Exception? exception);
}
