using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Agents.Api.Identity;

/// <summary><c>POST /api/dev/token</c>: a token for any user name, for development only.</summary>
public static class DevTokenApi
{
    public sealed record DevTokenRequest(string? User);

    public sealed record DevTokenResponse(string Token, DateTimeOffset ExpiresAt);

    /// <summary>Maps the route only while <c>Auth:DevTokens</c> is on; otherwise it does not exist (404).</summary>
    public static IEndpointRouteBuilder MapDevTokenApi(this IEndpointRouteBuilder endpoints)
    {
        if (endpoints.ServiceProvider.GetRequiredService<IOptions<AuthOptions>>().Value.DevTokens != true)
        {
            return endpoints;
        }

        endpoints.MapPost("/api/dev/token", IssueToken)
            .AllowAnonymous()
            .WithName("IssueDevToken")
            .WithTags("Development");
        return endpoints;
    }

    public static Results<Ok<DevTokenResponse>, ProblemHttpResult> IssueToken(DevTokenRequest? request, TokenIssuer issuer)
    {
        var user = request?.User?.Trim();
        if (!IsValidUser(user))
        {
            return Hosting.ConversationProblems.Result(ErrorCodes.InvalidArgument,
                "user must be 1-64 characters of letters, digits, '.', '_', '-' and '@'");
        }

        var (token, expiresAt) = issuer.Issue(user);
        return TypedResults.Ok(new DevTokenResponse(token, expiresAt));
    }

    private static bool IsValidUser([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? user) =>
        user is { Length: > 0 and <= 64 } && user.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@');
}
