using Orleans.Streams;

namespace Agents.Grains.Conversations;

/// <summary>
/// Told, in the grain's turn and before the event goes out, each time a conversation publishes on its stream; lets
/// the host tell quiet streams from live ones (the single node's pub-sub store forgets quiet ones). Must not block.
/// </summary>
public interface IStreamPublishListener
{
    void Publishing(StreamId stream);
}
