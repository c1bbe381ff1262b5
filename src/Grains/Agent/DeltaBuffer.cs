using System.Text;
using Agents.Events;
using Agents.Grains.Conversations;

namespace Agents.Grains.Agent;

/// <summary>
/// Merges a message's streamed text while the log's previous append is being written, so coalescing follows the
/// database's speed: a chunk that finds nothing in flight is appended at once (one event per token for a model at a
/// human pace, latency of one commit), and under load or with a fast model chunks merge for as long as a commit
/// takes. Text is never held longer than the flush window; a window of zero turns merging off.
/// </summary>
internal sealed class DeltaBuffer(ConversationLog log, string runId, string messageId, TimeSpan window)
{
    private readonly StringBuilder _pending = new();
    private int _generation;

    // An append that failed in a flush of a later turn (the log full): the step gets it at its next Add or Flush.
    private Exception? _failure;

    public void Add(string text)
    {
        ThrowIfFailed();
        var wasEmpty = _pending.Length == 0;
        _pending.Append(text);
        if (window <= TimeSpan.Zero || log.InFlight.IsCompleted)
        {
            Flush();
        }
        else if (wasEmpty)
        {
            _ = FlushWhenWrittenAsync(_generation, log.InFlight);
        }
    }

    /// <summary>Appends what is pending now, without waiting for it to be durable.</summary>
    public void Flush()
    {
        ThrowIfFailed();
        _generation++;
        if (_pending.Length == 0)
        {
            return;
        }

        log.Append(runId, new MessageDeltaStreamed(messageId, _pending.ToString()));
        _pending.Clear();
    }

    public void Discard()
    {
        _generation++;
        _pending.Clear();
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
        {
            _failure = null;
            throw failure;
        }
    }

    private async Task FlushWhenWrittenAsync(int generation, Task inFlight)
    {
        // Continues on the grain's scheduler, so the flush is one of the grain's turns like any other append.
        await Task.WhenAny(inFlight, Task.Delay(window));
        if (generation != _generation || log.IsBroken)
        {
            // Flushed or discarded meanwhile; or the log failed and the loop, which owns that error, is stopping.
            return;
        }

        try
        {
            Flush();
        }
        catch (LogFullException ex)
        {
            _failure = ex;
        }
    }
}
