using Agents.Events;

namespace Agents.Api.Protocols;

/// <summary>What the projections need to know about a run's events beyond one event at a time.</summary>
public static class RunLog
{
    /// <summary>
    /// Whether the request of this <c>input.requested</c> is answered among <paramref name="later"/>: a stream
    /// that meets a request already answered goes on through it, one that meets an open request ends there.
    /// </summary>
    public static bool IsAnswered(InputRequested request, IEnumerable<EventEnvelope> later) =>
        later.TakeWhile(e => !EventTypes.IsTerminal(e.Type))
            .Any(e => e.Data is InputReceived received && received.RequestId == request.RequestId);

    /// <summary>The requests of the run that are open at the end of <paramref name="events"/>.</summary>
    public static IReadOnlyList<InputRequested> OpenRequests(IReadOnlyList<EventEnvelope> events)
    {
        var open = new List<InputRequested>();
        foreach (var e in events)
        {
            switch (e.Data)
            {
                case InputRequested requested:
                    open.Add(requested);
                    break;
                case InputReceived received:
                    open.RemoveAll(r => r.RequestId == received.RequestId);
                    break;
                case RunCompleted or RunFailed or RunCancelled:
                    open.Clear();
                    break;
            }
        }

        return open;
    }
}
