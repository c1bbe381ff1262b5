using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agents.Api.Identity;
using Agents.Api.Protocols;
using Agents.Api.Protocols.AgUi;
using Agents.Api.RateLimiting;
using Agents.Api.Streaming;
using Agents.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Agents.Api.Apis;

/// <summary>
/// <c>/api/agui</c>: AG-UI over HTTP POST and SSE, for <c>@ag-ui/client</c>'s <c>HttpAgent</c>: a run from a
/// <c>RunAgentInput</c>, interrupts answered with <c>resume[]</c>, reconnect to a thread, cancel.
/// </summary>
public static class AgUiApi
{
    public static RouteGroupBuilder MapAgUiApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/agui")
            .RequireAuthorization()
            .AddEndpointFilter(ProtocolErrors.MapAsync)
            .WithTags("AG-UI");

        api.MapPost("/", RunAsync).WithName("AgUiRun").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Sends));
        api.MapGet("/capabilities", Capabilities).WithName("AgUiCapabilities");
        api.MapGet("/{threadId}/connect", ConnectAsync).WithName("AgUiConnect");
        api.MapPost("/{threadId}/cancel", CancelAsync).WithName("AgUiCancel");
        return api;
    }

    /// <summary>
    /// <c>resume[]</c> answers the open interrupts (<c>interruptId</c> = request id; payload <c>{ approved }</c> or
    /// <c>{ text }</c>; <c>cancelled</c> denies an approval and cancels a question); otherwise the newest message, the
    /// user's, starts or steers the run. The response is the run's AG-UI events from there on.
    /// </summary>
    public static async Task<ProtocolStreamResult> RunAsync(
        [FromBody] JsonObject? input, ClaimsPrincipal user, ChatConversations chats, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var userId = user.UserId();
        var threadId = JsonFields.String(input?["threadId"]) ?? throw ConversationException.InvalidArgument("threadId is required");
        long from;
        if (input?["resume"] is JsonArray { Count: > 0 } resume)
        {
            from = await ResumeAsync(userId, threadId, resume, chats, cancellationToken);
        }
        else if ((input?["messages"] as JsonArray)?.LastOrDefault() is JsonObject { } last && JsonFields.String(last["role"]) == "user")
        {
            from = await chats.SendAsync(userId, threadId, TextOf(last["content"]), JsonFields.String(last["id"]), cancellationToken);
        }
        else
        {
            throw ConversationException.InvalidArgument("the newest message must be the user's, or resume[] must answer the open interrupts");
        }

        var projection = new AgUiProjection(threadId);
        return new ProtocolStreamResult(
            chats.FramesAsync(userId, threadId, from - 1, projection.Apply, () => projection.Ended, cancellationToken),
            options.Value.SseHeartbeat);
    }

    /// <summary>What an <c>HttpAgent</c> subclass returns from <c>getCapabilities()</c>.</summary>
    public static ContentHttpResult Capabilities() => TypedResults.Content(new JsonObject
    {
        ["identity"] = new JsonObject { ["name"] = "agents", ["type"] = "orleans" },
        ["transport"] = new JsonObject { ["streaming"] = true, ["resumable"] = true },
        ["humanInTheLoop"] = new JsonObject { ["supported"] = true, ["approvals"] = true, ["interrupts"] = true },
    }.ToJsonString(), "application/json");

    /// <summary>
    /// Reconnects to a thread: <c>RUN_STARTED</c>, <c>MESSAGES_SNAPSHOT</c> as of the newest seq N, a message still
    /// streaming opened again, then the run live from N+1; a thread with no run going ends at once (finished, or
    /// interrupted on its open requests).
    /// </summary>
    public static async Task<ProtocolStreamResult> ConnectAsync(
        string threadId, ClaimsPrincipal user, ChatConversations chats, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var userId = user.UserId();
        var info = await chats.Gateway.GetAsync(userId, threadId, cancellationToken);
        var log = await chats.ReadLogAsync(userId, threadId, info.LastSeq, cancellationToken);
        var asOf = log.Count > 0 ? log[^1].Seq : 0;
        var runId = log.LastOrDefault(e => e.RunId is not null)?.RunId ?? threadId;
        var (messages, streaming) = AgUiMessages.FromLog(log);
        var projection = new AgUiProjection(threadId);
        var opening = projection.Connect(runId, asOf, messages, info.Status == ConversationStatus.Running ? streaming : []);
        var running = info.Status == ConversationStatus.Running && log.Count > 0 && !EventTypes.IsTerminal(log[^1].Type);
        var closing = running ? [] : projection.Idle(runId, asOf, RunLog.OpenRequests([.. log.Where(e => e.RunId == runId)]));
        return new ProtocolStreamResult(Frames(), options.Value.SseHeartbeat);

        async IAsyncEnumerable<ProtocolFrame> Frames()
        {
            foreach (var frame in opening.Concat(closing))
            {
                yield return frame;
            }

            if (running)
            {
                await foreach (var frame in chats.FramesAsync(userId, threadId, asOf, projection.Apply, () => projection.Ended, cancellationToken))
                {
                    yield return frame;
                }
            }
        }
    }

    public static async Task<Accepted> CancelAsync(string threadId, ClaimsPrincipal user, ChatConversations chats, CancellationToken cancellationToken)
    {
        await chats.Gateway.CancelAsync(user.UserId(), threadId, cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    private static async Task<long> ResumeAsync(string userId, string threadId, JsonArray resume, ChatConversations chats, CancellationToken cancellationToken)
    {
        var info = await chats.Gateway.GetAsync(userId, threadId, cancellationToken);
        var open = RunLog.OpenRequests(await chats.ReadLatestRunAsync(userId, threadId, info.LastSeq, cancellationToken));
        long? first = null;
        foreach (var entry in resume.OfType<JsonObject>())
        {
            var interruptId = JsonFields.String(entry["interruptId"]);
            var request = open.FirstOrDefault(r => r.RequestId == interruptId)
                ?? throw ConversationException.Conflict($"interrupt {interruptId} is not open in thread {threadId}");
            var payload = entry["payload"];
            if (JsonFields.String(entry["status"]) == "cancelled" && request.Kind == InputKinds.Question)
            {
                // A question the user will not answer: the run stops, as AG-UI's client expects of a cancelled interrupt.
                await chats.Gateway.CancelAsync(userId, threadId, cancellationToken);
                first ??= info.LastSeq + 1;
                continue;
            }

            var answer = request.Kind == InputKinds.Approval
                ? new Respond(request.RequestId,
                    Approved: JsonFields.String(entry["status"]) != "cancelled" && (payload?["approved"] is JsonValue a && a.GetValueKind() is JsonValueKind.True),
                    Text: payload?["text"] is JsonValue t && t.GetValueKind() == JsonValueKind.String ? (string)t! : null)
                : new Respond(request.RequestId, Text: payload is JsonValue s && s.GetValueKind() == JsonValueKind.String
                    ? (string)s!
                    : JsonFields.String(payload?["text"]) ?? throw ConversationException.InvalidArgument("a question's answer is { text }"));
            var seq = (await chats.Gateway.RespondAsync(userId, threadId, answer, cancellationToken)).Seq;
            first ??= seq;
        }

        return first ?? throw ConversationException.InvalidArgument("resume[] is empty");
    }

    private static string TextOf(JsonNode? content) => content switch
    {
        JsonValue value when value.GetValueKind() == JsonValueKind.String => (string)value!,
        JsonArray parts => string.Concat(parts.OfType<JsonObject>().Where(p => JsonFields.String(p["type"]) == "text").Select(p => JsonFields.String(p["text"]))),
        _ => "",
    };
}
