using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Agents.Api.Hosting;

/// <summary>
/// The HTTP face of the contract's error codes: every error is <c>application/problem+json</c> with a
/// <c>code</c> member (<c>invalid_argument</c>, <c>not_found</c>, …) next to the status.
/// </summary>
public static class ConversationProblems
{
    public const string CodeMember = "code";

    public static int StatusOf(string code) => code switch
    {
        ErrorCodes.InvalidArgument => StatusCodes.Status400BadRequest,
        ErrorCodes.NotFound => StatusCodes.Status404NotFound,
        ErrorCodes.Conflict => StatusCodes.Status409Conflict,
        ErrorCodes.TooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorCodes.RateLimited => StatusCodes.Status429TooManyRequests,
        ErrorCodes.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The code a problem of <paramref name="status"/> carries when nothing more specific set one.</summary>
    public static string? CodeOf(int? status) => status switch
    {
        StatusCodes.Status400BadRequest => ErrorCodes.InvalidArgument,
        StatusCodes.Status401Unauthorized => "unauthenticated",
        StatusCodes.Status403Forbidden => "forbidden",
        StatusCodes.Status404NotFound => ErrorCodes.NotFound,
        StatusCodes.Status409Conflict => ErrorCodes.Conflict,
        StatusCodes.Status413PayloadTooLarge => ErrorCodes.TooLarge,
        StatusCodes.Status429TooManyRequests => ErrorCodes.RateLimited,
        StatusCodes.Status503ServiceUnavailable => ErrorCodes.Unavailable,
        _ => null,
    };

    public static ProblemDetails Create(string code, string message) => new()
    {
        Status = StatusOf(code),
        Title = code switch
        {
            ErrorCodes.InvalidArgument => "The request is invalid.",
            ErrorCodes.NotFound => "Not found.",
            ErrorCodes.Conflict => "The request conflicts with what already happened.",
            ErrorCodes.TooLarge => "Too large.",
            ErrorCodes.RateLimited => "Too many requests.",
            ErrorCodes.Unavailable => "Unavailable; retry shortly.",
            _ => "The request failed.",
        },
        Detail = message.StartsWith(code + ":", StringComparison.Ordinal) ? message : $"{code}: {message}",
        Extensions = { [CodeMember] = code },
    };

    /// <summary>A problem result for an error of the contract, for the endpoints' <c>Results&lt;…&gt;</c>.</summary>
    public static ProblemHttpResult Result(string code, string message) => TypedResults.Problem(Create(code, message));

    /// <summary>Adds <c>code</c> to every problem, and the request's trace id, so a client can report it.</summary>
    public static void Customize(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        if (problem.Status == StatusCodes.Status415UnsupportedMediaType)
        {
            // A body that is not JSON is a bad argument like any other: the contract's 400, not a status of its own.
            problem.Status = context.HttpContext.Response.StatusCode = StatusCodes.Status400BadRequest;
            problem.Title = "The request is invalid.";
            problem.Detail = $"{ErrorCodes.InvalidArgument}: the body must be application/json";
        }

        if (!problem.Extensions.ContainsKey(CodeMember) && CodeOf(problem.Status) is { } code)
        {
            problem.Extensions[CodeMember] = code;
            // Problems written for a bare status (Kestrel's body limit, authentication) have no detail of their own.
            problem.Detail ??= problem.Status == StatusCodes.Status413PayloadTooLarge
                ? $"{code}: the request body is larger than this server accepts"
                : $"{code}: {problem.Title}";
        }

        if (problem.Status == StatusCodes.Status503ServiceUnavailable && !context.HttpContext.Response.Headers.ContainsKey(HeaderNames.RetryAfter))
        {
            context.HttpContext.Response.Headers.RetryAfter = TransportFailures.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }

        problem.Extensions.TryAdd("traceId", context.HttpContext.Features.Get<IHttpActivityFeature>()?.Activity.Id ?? context.HttpContext.TraceIdentifier);
    }

    /// <summary>
    /// Turns a <see cref="ConversationException"/> escaping an endpoint into its problem, and a malformed
    /// request body into <c>invalid_argument</c>; anything else stays a 500.
    /// </summary>
    internal sealed class ExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            var problem = exception switch
            {
                ConversationException e => Create(e.Code, e.Message),
                // A failure of another process that no call site translated: still the client's unavailable, not a 500.
                _ when TransportFailures.IsTransient(exception, httpContext.RequestAborted) => Create(ErrorCodes.Unavailable, TransportFailures.Unavailable(exception).Detail),
                BadHttpRequestException e when e.StatusCode == StatusCodes.Status413PayloadTooLarge => Create(ErrorCodes.TooLarge, e.Message),
                BadHttpRequestException e => Create(ErrorCodes.InvalidArgument, e.InnerException?.Message ?? e.Message),
                _ => null,
            };

            if (problem is null)
            {
                return false;
            }

            httpContext.Response.StatusCode = problem.Status ?? StatusCodes.Status500InternalServerError;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                ProblemDetails = problem,
                Exception = exception,
            });
        }
    }
}
