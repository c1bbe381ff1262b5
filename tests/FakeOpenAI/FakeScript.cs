namespace Agents.FakeOpenAI;

/// <summary>
/// The replies for one test: requests whose first user message contains <see cref="Marker"/> get them in order.
/// When the queue is empty, the <see cref="Otherwise"/> reply answers, or a 400 that names the script.
/// </summary>
public sealed class FakeScript
{
    private readonly Lock _lock = new();
    private readonly Queue<FakeReply> _replies = new();
    private readonly List<RecordedRequest> _requests = [];
    private FakeReply? _otherwise;

    internal FakeScript(string id) => (Id, Marker) = (id, $"[fake:{id}]");

    public string Id { get; }

    /// <summary>Put this anywhere in the conversation's first user message.</summary>
    public string Marker { get; }

    /// <summary>The requests this script answered, in the order they arrived.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Queues the next reply.</summary>
    public FakeScript Then(FakeReply reply)
    {
        lock (_lock)
        {
            _replies.Enqueue(reply);
        }

        return this;
    }

    /// <summary>Answers every request after the queue is spent (a provider that keeps failing, say).</summary>
    public FakeScript Otherwise(FakeReply reply)
    {
        lock (_lock)
        {
            _otherwise = reply;
        }

        return this;
    }

    internal FakeReply? Next(RecordedRequest request)
    {
        lock (_lock)
        {
            _requests.Add(request);
            return _replies.TryDequeue(out var reply) ? reply : _otherwise;
        }
    }
}
