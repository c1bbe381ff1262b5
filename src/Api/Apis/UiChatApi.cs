using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agents.Api.Identity;
using Agents.Api.Protocols;
using Agents.Api.Protocols.UiMessageStream;
using Agents.Api.RateLimiting;
using Agents.Api.Streaming;
using Agents.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Agents.Api.Apis;

/// <summary>
/// <c>/api/ui/chat</c>: the Vercel AI SDK's UI message stream (v1) over a conversation, for <c>useChat</c> with
/// <c>DefaultChatTransport</c>: send, resume, stop, and the messages for a page to restore.
/// </summary>
public static class UiChatApi
{
    /// <summary>The header the AI SDK's transport looks for.</summary>
    public static readonly IReadOnlyDictionary<string, string> StreamHeaders = new Dictionary<string, string>
    {
        ["x-vercel-ai-ui-message-stream"] = "v1",
    };

    public static RouteGroupBuilder MapUiChatApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/ui/chat")
            .RequireAuthorization()
            .AddEndpointFilter(ProtocolErrors.MapAsync)
            .WithTags("AI SDK UI message stream");

        api.MapPost("/", ChatAsync).WithName("UiChat").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Sends));
        api.MapGet("/{id}/stream", ResumeAsync).WithName("UiChatResume");
        api.MapPost("/{id}/stop", StopAsync).WithName("UiChatStop");
        api.MapGet("/{id}/messages", MessagesAsync).WithName("UiChatMessages");
        return api;
    }

    /// <summary>
    /// The body <c>DefaultChatTransport</c> sends: a user message newest starts or steers a run; an assistant message
    /// newest answers the open requests its tool parts answer (an approval with <c>addToolApprovalResponse</c>, an
    /// <c>ask_user</c> with <c>addToolOutput</c>). The response is the run's stream from there on.
    /// </summary>
    public static async Task<ProtocolStreamResult> ChatAsync(
        [FromBody] JsonObject? body, ClaimsPrincipal user, ChatConversations chats, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var userId = user.UserId();
        var id = JsonFields.String(body?["id"]) ?? throw ConversationException.InvalidArgument("the chat id is required");
        var last = (body?["messages"] as JsonArray)?.LastOrDefault() as JsonObject
            ?? throw ConversationException.InvalidArgument("messages must hold at least one message");
        if (JsonFields.String(body?["trigger"]) is "regenerate-message")
        {
            throw ConversationException.InvalidArgument("regenerating a message is not supported: send a new one");
        }

        var from = JsonFields.String(last["role"]) switch
        {
            "user" => await chats.SendAsync(userId, id, TextOf(last), JsonFields.String(last["id"]), cancellationToken),
            "assistant" => await AnswerAsync(userId, id, last, chats, cancellationToken),
            _ => throw ConversationException.InvalidArgument("the newest message must be the user's, or the assistant's with answered tool parts"),
        };

        var projection = new UiMessageStreamProjection();
        return new ProtocolStreamResult(
            chats.FramesAsync(userId, id, from - 1, projection.Apply, () => projection.Ended, cancellationToken),
            options.Value.SseHeartbeat,
            StreamHeaders);
    }

    /// <summary><c>useChat({ resume: true })</c> on mount: the current run from its start, then live; 204 when none is streaming.</summary>
    public static async Task<Results<ProtocolStreamResult, NoContent>> ResumeAsync(
        string id, ClaimsPrincipal user, ChatConversations chats, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var userId = user.UserId();
        var info = await chats.Gateway.GetAsync(userId, id, cancellationToken);
        if (info.Status != ConversationStatus.Running)
        {
            return TypedResults.NoContent();
        }

        var run = await chats.ReadLatestRunAsync(userId, id, info.LastSeq, cancellationToken);
        var projection = new UiMessageStreamProjection();
        return new ProtocolStreamResult(
            chats.FramesAsync(userId, id, (run.Count > 0 ? run[0].Seq : info.LastSeq + 1) - 1, projection.Apply, () => projection.Ended, cancellationToken),
            options.Value.SseHeartbeat,
            StreamHeaders);
    }

    public static async Task<Accepted> StopAsync(string id, ClaimsPrincipal user, ChatConversations chats, CancellationToken cancellationToken)
    {
        await chats.Gateway.CancelAsync(user.UserId(), id, cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    /// <summary>The conversation as <c>UIMessage[]</c>, tool parts in their current state, for a page to restore on load.</summary>
    public static async Task<ContentHttpResult> MessagesAsync(string id, ClaimsPrincipal user, ChatConversations chats, CancellationToken cancellationToken)
    {
        var userId = user.UserId();
        var info = await chats.Gateway.GetAsync(userId, id, cancellationToken);
        var log = await chats.ReadLogAsync(userId, id, info.LastSeq, cancellationToken);
        return TypedResults.Content(UiMessages.FromLog(log).ToJsonString(), "application/json");
    }

    /// <summary>Answers each open request that the assistant message's tool parts answer; returns the first answer's seq.</summary>
    private static async Task<long> AnswerAsync(string userId, string id, JsonObject message, ChatConversations chats, CancellationToken cancellationToken)
    {
        var info = await chats.Gateway.GetAsync(userId, id, cancellationToken);
        var open = RunLog.OpenRequests(await chats.ReadLatestRunAsync(userId, id, info.LastSeq, cancellationToken));
        long? first = null;
        foreach (var part in (message["parts"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var answer = JsonFields.String(part["state"]) switch
            {
                "approval-responded" when open.FirstOrDefault(r => r.RequestId == JsonFields.String(part["approval"]?["id"])) is { } request =>
                    new Respond(request.RequestId, Approved: part["approval"]?["approved"] is JsonValue a && a.GetValueKind() == JsonValueKind.True, Text: JsonFields.String(part["approval"]?["reason"])),
                "output-available" when QuestionOf(part) is { } request =>
                    new Respond(request.RequestId, Text: part["output"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string)v! : part["output"]?.ToJsonString() ?? ""),
                "output-error" when QuestionOf(part) is { } request =>
                    new Respond(request.RequestId, Text: JsonFields.String(part["errorText"]) ?? ""),
                _ => null,
            };
            if (answer is not null)
            {
                var seq = (await chats.Gateway.RespondAsync(userId, id, answer, cancellationToken)).Seq;
                first ??= seq;
            }
        }

        return first ?? throw ConversationException.Conflict("the newest message answers no open request of this chat");

        InputRequested? QuestionOf(JsonObject part) =>
            open.FirstOrDefault(r => r.Kind == InputKinds.Question && r.CallId == JsonFields.String(part["toolCallId"]));
    }

    private static string TextOf(JsonObject message) =>
        string.Concat((message["parts"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(p => JsonFields.String(p["type"]) == "text")
            .Select(p => JsonFields.String(p["text"])));
}
