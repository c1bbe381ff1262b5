using Agents.Events;

namespace Agents.Grains.Conversations;

/// <summary>Events just appended: applied to the state, stored once <see cref="Durable"/> completes.</summary>
internal readonly record struct AppendedBatch(EventEnvelope[] Events, Task Durable);

/// <summary>An append that would leave no room to close the active run: the run must end.</summary>
internal sealed class LogFullException(int maxEvents) : Exception($"The conversation's log is full ({maxEvents} events).")
{
    public int MaxEvents { get; } = maxEvents;
}
