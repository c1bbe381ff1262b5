namespace Agents.FakeOpenAI;

/// <summary>
/// One scripted answer of the fake model to one request: either an HTTP error, or a stream of chunks shaped as
/// the real API streams them, with the faults a real provider shows (a dropped connection, a stall, a chunk that
/// is not JSON) placed wherever the test wants them.
/// </summary>
public sealed class FakeReply
{
    private readonly List<FakeStep> _steps = [];
    private readonly System.Text.StringBuilder _sent = new();
    private int _toolCalls;

    private FakeReply(int statusCode) => StatusCode = statusCode;

    /// <summary>200 with a stream; add its content with <see cref="Text"/>, <see cref="ToolCall"/> and the faults.</summary>
    public static FakeReply Stream() => new(200);

    /// <summary>A streamed text answer, one chunk per piece.</summary>
    public static FakeReply Say(params string[] pieces) => Stream().Text(pieces);

    /// <summary>An HTTP error with an OpenAI-shaped error body, and optionally a <c>Retry-After</c> header.</summary>
    public static FakeReply Error(int statusCode, string? retryAfter = null, string? message = null) =>
        new(statusCode) { RetryAfter = retryAfter, ErrorMessage = message };

    public int StatusCode { get; }

    public string? RetryAfter { get; private init; }

    public string? ErrorMessage { get; private init; }

    /// <summary>Usage reported in the last chunk when the request asks for it; by default 10 prompt tokens and one per piece.</summary>
    public (int PromptTokens, int CompletionTokens)? ReportedUsage { get; private set; }

    /// <summary>The finish reason; by default <c>tool_calls</c> when there are tool calls, else <c>stop</c>.</summary>
    public string? FinishReason { get; private set; }

    internal IReadOnlyList<FakeStep> Steps => _steps;

    /// <summary>Text pieces, one chunk each.</summary>
    public FakeReply Text(params string[] pieces)
    {
        _steps.AddRange(pieces.Select(p => new FakeStep.Content(p)));
        return this;
    }

    /// <summary>
    /// A tool call: a chunk with its index, id and name, then one chunk per piece of its arguments. Calls get
    /// indexes 0, 1, … in the order they are added; pieces of different calls may be interleaved with
    /// <see cref="ToolCallArguments"/>.
    /// </summary>
    public FakeReply ToolCall(string id, string name, params string[] argumentPieces)
    {
        var index = _toolCalls++;
        _steps.Add(new FakeStep.ToolCallStart(index, id, name));
        _steps.AddRange(argumentPieces.Select(p => new FakeStep.ToolCallArguments(index, p)));
        return this;
    }

    /// <summary>More argument text for the tool call with this index.</summary>
    public FakeReply ToolCallArguments(int index, string piece)
    {
        _steps.Add(new FakeStep.ToolCallArguments(index, piece));
        return this;
    }

    /// <summary>
    /// <paramref name="count"/> text chunks, the i-th sent <paramref name="interval"/> × i after the first (on an
    /// absolute schedule, so a slow write does not lower the rate offered), each reading <c>&lt;i,t&gt;</c> where t is
    /// <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> as it is sent: a receiver on the same machine measures
    /// each chunk's latency on one clock. What was sent is in <see cref="SentText"/>.
    /// </summary>
    public FakeReply StampedText(int count, TimeSpan interval)
    {
        _steps.Add(new FakeStep.Stamped(count, interval));
        return this;
    }

    /// <summary>The text chunks sent so far, concatenated (for replies with <see cref="StampedText"/>, known only once sent).</summary>
    public string SentText
    {
        get
        {
            lock (_sent)
            {
                return _sent.ToString();
            }
        }
    }

    internal void RecordSent(string text)
    {
        lock (_sent)
        {
            _sent.Append(text);
        }
    }

    /// <summary>Sends nothing for this long (a stall when longer than the client's patience).</summary>
    public FakeReply Pause(TimeSpan duration)
    {
        _steps.Add(new FakeStep.Pause(duration));
        return this;
    }

    /// <summary>
    /// Aborts the connection here: the stream ends without <c>[DONE]</c>. What was sent before is flushed and given
    /// <paramref name="settle"/> (default 200 ms) to be read, since a reset connection loses data the client has not
    /// read yet; pass zero to drop at once.
    /// </summary>
    public FakeReply DropConnection(TimeSpan? settle = null)
    {
        _steps.Add(new FakeStep.Drop(settle ?? TimeSpan.FromMilliseconds(200)));
        return this;
    }

    /// <summary>Sends an SSE event whose data is not valid JSON, then ends the stream.</summary>
    public FakeReply MalformedChunk()
    {
        _steps.Add(new FakeStep.Malformed());
        return this;
    }

    public FakeReply Usage(int promptTokens, int completionTokens)
    {
        ReportedUsage = (promptTokens, completionTokens);
        return this;
    }

    public FakeReply Finish(string reason)
    {
        FinishReason = reason;
        return this;
    }

    internal string EffectiveFinishReason => FinishReason ?? (_toolCalls > 0 ? "tool_calls" : "stop");

    internal (int PromptTokens, int CompletionTokens) EffectiveUsage =>
        ReportedUsage ?? (10, Math.Max(1, _steps.Sum(s => s switch
        {
            FakeStep.Content or FakeStep.ToolCallArguments => 1,
            FakeStep.Stamped stamped => stamped.Count,
            _ => 0,
        })));
}

internal abstract record FakeStep
{
    public sealed record Content(string Text) : FakeStep;

    public sealed record ToolCallStart(int Index, string Id, string Name) : FakeStep;

    public sealed record ToolCallArguments(int Index, string Piece) : FakeStep;

    public sealed record Pause(TimeSpan Duration) : FakeStep;

    public sealed record Stamped(int Count, TimeSpan Interval) : FakeStep;

    public sealed record Drop(TimeSpan Settle) : FakeStep;

    public sealed record Malformed : FakeStep;
}
