using System.Security.Claims;

namespace Agents.Api.Identity;

public static class UserExtensions
{
    /// <summary>The caller's user id (the token's <c>sub</c>); the authorization policy guarantees it is there.</summary>
    public static string UserId(this ClaimsPrincipal? principal) =>
        principal?.FindFirst(TokenIssuer.UserClaim)?.Value is { Length: > 0 } user
            ? user
            : throw new InvalidOperationException("The caller has no 'sub' claim; the endpoint must require authorization.");
}
