using System.Security.Claims;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Api.Identity;
using Agents.Api.RateLimiting;
using Agents.Api.Streaming;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Agents.Api.Apis;

/// <summary><c>/api/conversations</c>: the contract's HTTP API; same semantics as the hub.</summary>
public static class ConversationsApi
{
    public static RouteGroupBuilder MapConversationsApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/conversations")
            .RequireAuthorization()
            .AddEndpointFilter(MapConversationErrors)
            .WithTags("Conversations");

        api.MapPost("/", CreateAsync).WithName("CreateConversation").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Conversations));
        api.MapGet("/", ListAsync).WithName("ListConversations");
        api.MapGet("/{id}", GetAsync).WithName("GetConversation");
        api.MapDelete("/{id}", DeleteAsync).WithName("DeleteConversation");
        api.MapPost("/{id}/messages", SendMessageAsync).WithName("SendMessage").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Sends));
        api.MapPost("/{id}/responses", RespondAsync).WithName("Respond").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Sends));
        api.MapPost("/{id}/cancel", CancelAsync).WithName("Cancel");
        api.MapGet("/{id}/events", GetEventsAsync).WithName("GetEvents");
        api.MapGet("/{id}/events/stream", StreamEventsAsync).WithName("StreamEvents");
        api.MapGet("/{id}/transcript", GetTranscriptAsync).WithName("GetTranscript");
        api.MapGet("/{id}/children", ListChildrenAsync).WithName("ListChildren");
        api.MapPost("/{id}/fork", ForkAsync).WithName("ForkConversation").WithMetadata(new UserRateLimitAttribute(UserRateLimit.Conversations));

        endpoints.MapGroup("/api/usage")
            .RequireAuthorization()
            .AddEndpointFilter(MapConversationErrors)
            .WithTags("Usage")
            .MapGet("/", GetUsageAsync).WithName("GetUsage");
        return api;
    }

    /// <summary>A new conversation whose log begins with copies of this one's events 1..afterSeq.</summary>
    public static async Task<Created<ConversationInfo>> ForkAsync(
        string id, [FromBody] ForkConversation? command, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken)
    {
        var info = await conversations.ForkAsync(user.UserId(), id, command, cancellationToken);
        return TypedResults.Created($"/api/conversations/{info.Id}", info);
    }

    /// <summary>The caller's token spend today and the daily budget.</summary>
    public static async Task<Ok<UserUsage>> GetUsageAsync(ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Ok(await conversations.GetUsageAsync(user.UserId(), cancellationToken));

    public static async Task<Created<ConversationInfo>> CreateAsync(
        [FromBody] CreateConversation? command, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken)
    {
        var info = await conversations.CreateAsync(user.UserId(), command, cancellationToken);
        return TypedResults.Created($"/api/conversations/{info.Id}", info);
    }

    public static async Task<Ok<IReadOnlyList<ConversationInfo>>> ListAsync(
        int? limit, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Ok(await conversations.ListAsync(user.UserId(), limit, cancellationToken));

    public static async Task<Ok<IReadOnlyList<ConversationInfo>>> ListChildrenAsync(
        string id, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Ok(await conversations.ListChildrenAsync(user.UserId(), id, cancellationToken));

    public static async Task<Ok<ConversationInfo>> GetAsync(
        string id, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Ok(await conversations.GetAsync(user.UserId(), id, cancellationToken));

    public static async Task<NoContent> DeleteAsync(
        string id, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken)
    {
        await conversations.DeleteAsync(user.UserId(), id, cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<Accepted<SeqResult>> SendMessageAsync(
        string id, [FromBody] SendMessage? command, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Accepted((string?)null, await conversations.SendMessageAsync(user.UserId(), id, command, cancellationToken));

    public static async Task<Accepted<SeqResult>> RespondAsync(
        string id, [FromBody] Respond? command, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Accepted((string?)null, await conversations.RespondAsync(user.UserId(), id, command, cancellationToken));

    public static async Task<Accepted> CancelAsync(
        string id, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken)
    {
        await conversations.CancelAsync(user.UserId(), id, cancellationToken);
        return TypedResults.Accepted((string?)null);
    }

    public static async Task<Ok<EventPage>> GetEventsAsync(
        string id, long? after, int? limit, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken) =>
        TypedResults.Ok(await conversations.GetEventsAsync(user.UserId(), id, after ?? 0, limit ?? 100, cancellationToken));

    /// <summary>
    /// Server-sent events from <c>after</c> (or the <c>Last-Event-ID</c> header, which wins: a reconnecting
    /// EventSource sends it): <c>id: seq</c>, <c>event: type</c>, <c>data: envelope</c>.
    /// </summary>
    public static async Task<Results<EventStreamResult, ProblemHttpResult>> StreamEventsAsync(
        string id,
        long? after,
        [FromHeader(Name = "Last-Event-ID")] string? lastEventId,
        ClaimsPrincipal user,
        ConversationGateway conversations,
        IOptions<GatewayOptions> options,
        CancellationToken cancellationToken)
    {
        var cursor = after ?? 0;
        if (!string.IsNullOrWhiteSpace(lastEventId))
        {
            if (!long.TryParse(lastEventId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out cursor))
            {
                return ConversationProblems.Result(ErrorCodes.InvalidArgument, "Last-Event-ID must be a seq (a non-negative integer)");
            }
        }

        var watch = await conversations.WatchAsync(user.UserId(), id, cursor, cancellationToken);
        return new EventStreamResult(watch, options.Value.SseHeartbeat);
    }

    public static async Task<ContentHttpResult> GetTranscriptAsync(
        string id, ClaimsPrincipal user, ConversationGateway conversations, CancellationToken cancellationToken)
    {
        var json = await conversations.GetTranscriptAsync(user.UserId(), id, cancellationToken);
        return TypedResults.Content(json, "application/json");
    }

    /// <summary>
    /// Malformed ids are refused before any grain is touched, and the grains' refusals become problems with
    /// the status of their code (400, 404, 409, 413, 429).
    /// </summary>
    private static async ValueTask<object?> MapConversationErrors(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (context.HttpContext.Request.RouteValues.TryGetValue("id", out var id) && !Ids.IsValid(id as string))
        {
            return ConversationProblems.Result(ErrorCodes.InvalidArgument, Ids.Malformed("conversation id"));
        }

        try
        {
            return await next(context);
        }
        catch (ConversationException ex)
        {
            return ConversationProblems.Result(ex.Code, ex.Message);
        }
    }
}
