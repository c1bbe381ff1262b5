using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using Agents.Grains.Conversations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.Streams;

namespace Agents.Silo.Streaming;

/// <summary>
/// The single node's store for Orleans' stream pub-sub state: for each conversation stream, who publishes (a pulling
/// agent) and who subscribes (gateways). Orleans' memory storage would keep an entry for every stream ever used: a
/// pulling agent never unregisters as a stream's producer, so an entry never empties, and the soak grew by one per
/// conversation. Here an entry without subscribers is forgotten once its stream has been quiet for twice the agents'
/// <see cref="OrleansHostOptions.StreamInactivityPeriod"/>: by then the agent has forgotten the stream too, and on the
/// stream's next event it registers again and writes a fresh entry. An entry with a subscriber is always kept: its
/// gateway is listening, however long the conversation stays quiet.
/// </summary>
public sealed partial class SingleNodePubSubStore : IGrainStorage, IStreamPublishListener, IDisposable
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo?> SubscriberProperties = new();

    private readonly DeepCopier _copier;
    private readonly TimeProvider _time;
    private readonly ILogger<SingleNodePubSubStore> _logger;
    private readonly TimeSpan _quietAfter;
    private readonly Lock _lock = new();
    private readonly Dictionary<GrainId, Entry> _entries = [];
    private readonly ConcurrentDictionary<StreamId, long> _lastPublished = new();
    private readonly ITimer _sweeper;
    private int _unreadableStateLogged;

    public SingleNodePubSubStore(DeepCopier copier, TimeProvider time, IOptions<OrleansHostOptions> options, ILogger<SingleNodePubSubStore> logger)
    {
        _copier = copier;
        _time = time;
        _logger = logger;
        _quietAfter = options.Value.StreamInactivityPeriod * 2;
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, options.Value.StreamInactivityPeriod.Ticks / 2));
        _sweeper = time.CreateTimer(_ => Sweep(), null, period, period);
    }

    /// <summary>Whether the stream has an entry right now.</summary>
    public bool Holds(StreamId stream)
    {
        lock (_lock)
        {
            return _entries.Values.Any(e => e.Stream == stream);
        }
    }

    public void Publishing(StreamId stream) => _lastPublished[stream] = _time.GetTimestamp();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        Entry? entry;
        lock (_lock)
        {
            _entries.TryGetValue(grainId, out entry);
        }

        grainState.State = entry is null ? Activator.CreateInstance<T>() : _copier.Copy((T)entry.State);
        grainState.ETag = entry?.ETag;
        grainState.RecordExists = entry is not null;
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var copy = _copier.Copy(grainState.State)!;
        var entry = new Entry(Guid.NewGuid().ToString("N"), copy, HasSubscribers(copy), StreamOf(grainId), _time.GetTimestamp());
        lock (_lock)
        {
            CheckETag(grainId, grainState.ETag);
            _entries[grainId] = entry;
        }

        grainState.ETag = entry.ETag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (_lock)
        {
            CheckETag(grainId, grainState.ETag);
            _entries.Remove(grainId);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }

    public void Dispose() => _sweeper.Dispose();

    /// <summary>Forgets quiet streams' entries that nobody subscribes to, and the publish times of quiet streams.</summary>
    internal void Sweep()
    {
        var now = _time.GetTimestamp();
        bool Quiet(long since) => _time.GetElapsedTime(since, now) >= _quietAfter;

        var forgotten = 0;
        lock (_lock)
        {
            foreach (var (grainId, entry) in _entries)
            {
                if (!entry.HasSubscribers && Quiet(entry.WrittenAt) &&
                    (entry.Stream is not { } stream || !_lastPublished.TryGetValue(stream, out var published) || Quiet(published)))
                {
                    _entries.Remove(grainId);
                    forgotten++;
                }
            }
        }

        foreach (var published in _lastPublished)
        {
            if (Quiet(published.Value))
            {
                // Only if unchanged: a publish that lands meanwhile keeps the stream live.
                _lastPublished.TryRemove(published);
            }
        }

        if (forgotten > 0)
        {
            LogForgotten(forgotten);
        }
    }

    /// <summary>
    /// Entries are Orleans' internal <c>PubSubGrainState</c>; its <c>Consumers</c> are the subscriptions. If a future
    /// Orleans renames them, every entry counts as subscribed and is kept, as Orleans' own memory storage does.
    /// </summary>
    private bool HasSubscribers(object state)
    {
        var property = SubscriberProperties.GetOrAdd(state.GetType(), t => t.GetProperty("Consumers", BindingFlags.Instance | BindingFlags.Public));
        if (property?.GetValue(state) is IEnumerable consumers)
        {
            return consumers.GetEnumerator().MoveNext();
        }

        if (Interlocked.Exchange(ref _unreadableStateLogged, 1) == 0)
        {
            LogUnreadableState(state.GetType());
        }

        return true;
    }

    /// <summary>A rendezvous grain's key is <c>{provider}/{stream id}</c> (QualifiedStreamId.ToString()).</summary>
    private static StreamId? StreamOf(GrainId grainId)
    {
        var key = grainId.Key.AsSpan();
        var slash = key.IndexOf((byte)'/');
        return slash < 0 || key[(slash + 1)..].IndexOf((byte)'/') < 0 ? null : StreamId.Parse(key[(slash + 1)..]);
    }

    private void CheckETag(GrainId grainId, string? etag)
    {
        // A missing entry takes any write, as in Orleans' memory storage: an entry this store forgot may still be
        // held, and written, by its rendezvous grain's activation.
        if (_entries.TryGetValue(grainId, out var current) && etag != current.ETag)
        {
            throw new InconsistentStateException($"The pub-sub entry of {grainId} changed since it was read.", current.ETag, etag ?? "(none)");
        }
    }

    private sealed record Entry(string ETag, object State, bool HasSubscribers, StreamId? Stream, long WrittenAt);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Forgot the pub-sub entries of {Count} quiet conversation streams nobody watches")]
    private partial void LogForgotten(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orleans' pub-sub state {Type} has no Consumers collection; the single node keeps every stream's pub-sub entry until it restarts")]
    private partial void LogUnreadableState(Type type);
}
