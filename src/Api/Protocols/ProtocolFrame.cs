using System.Text.Json.Nodes;

namespace Agents.Api.Protocols;

/// <summary>
/// One SSE frame of a front-end protocol: the JSON it carries and the seq of the log event it was made from
/// (its <c>id:</c>), so a client that reconnects knows where it was. <see cref="Data"/> null is the AI SDK's
/// <c>[DONE]</c>.
/// </summary>
public sealed record ProtocolFrame(long Seq, JsonObject? Data)
{
    public static ProtocolFrame Done(long seq) => new(seq, null);
}
