using System.Diagnostics;
using System.Globalization;

namespace Agents.Bench.Streaming;

/// <summary>
/// Reads the chunks the bench model sends (<c>&lt;i,t&gt;</c>, t its Stopwatch timestamp when sent) out of whatever
/// text reached a client, however the server merged them, and records each chunk's latency on the one clock.
/// </summary>
internal sealed class ChunkStamps
{
    private readonly List<double> _latenciesMs = [];
    private int _next;
    private string _partial = "";

    /// <summary>Chunks seen so far, in order and without gaps (else <see cref="Error"/> says what went wrong).</summary>
    public int Count => _next;

    public string? Error { get; private set; }

    public IReadOnlyList<double> LatenciesMs => _latenciesMs;

    /// <summary>When the model sent the first chunk (Stopwatch timestamp).</summary>
    public long FirstSentAt { get; private set; }

    /// <summary>When the last chunk arrived (Stopwatch timestamp).</summary>
    public long LastReceivedAt { get; private set; }

    /// <summary>Text as it arrived at <paramref name="receivedAt"/> (a Stopwatch timestamp).</summary>
    public void Add(string text, long receivedAt)
    {
        var buffer = _partial.Length == 0 ? text : _partial + text;
        var start = 0;
        while (true)
        {
            var open = buffer.IndexOf('<', start);
            var close = open < 0 ? -1 : buffer.IndexOf('>', open);
            if (close < 0)
            {
                // A chunk is never split by the server, but stay correct if one ever is.
                _partial = open < 0 ? "" : buffer[open..];
                return;
            }

            var body = buffer.AsSpan(open + 1, close - open - 1);
            var comma = body.IndexOf(',');
            if (comma < 0
                || !int.TryParse(body[..comma], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || !long.TryParse(body[(comma + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var sentAt))
            {
                Error ??= $"unreadable chunk '{body}'";
            }
            else if (index != _next)
            {
                Error ??= $"chunk {index} arrived where {_next} was due";
            }
            else
            {
                if (_next == 0)
                {
                    FirstSentAt = sentAt;
                }

                _next++;
                LastReceivedAt = receivedAt;
                _latenciesMs.Add(Stopwatch.GetElapsedTime(sentAt, receivedAt).TotalMilliseconds);
            }

            start = close + 1;
        }
    }
}
