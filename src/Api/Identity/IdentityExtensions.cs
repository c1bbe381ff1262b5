using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;

namespace Agents.Api.Identity;

public static class IdentityExtensions
{
    /// <summary>Query parameter SignalR's clients (and EventSource users) put the token in.</summary>
    private const string AccessTokenParameter = "access_token";

    /// <summary>
    /// JWT bearer authentication whose user is the token's <c>sub</c>, and a default policy that requires one.
    /// The hub and the SSE route also accept the token as <c>?access_token=</c>: browsers cannot set headers
    /// on WebSockets or EventSource.
    /// </summary>
    public static IHostApplicationBuilder AddAgentIdentity(this IHostApplicationBuilder builder, bool singleNode)
    {
        var options = builder.Configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new AuthOptions();
        options.DevTokens ??= singleNode;
        builder.Services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName)
            .PostConfigure(o => o.DevTokens ??= singleNode)
            .ValidateDataAnnotations()
            .Validate(
                o => singleNode || o.DevTokens != true || o.AllowDevTokensInCluster,
                "Auth:DevTokens=true is refused in Orleans:Mode=Cluster: it hands anyone a token for any user. "
                + "Turn it off, or set Auth:AllowDevTokensInCluster=true if this cluster is really only yours.")
            .ValidateOnStart();
        builder.Services.AddAccessTokenRedaction();
        var issuer = new TokenIssuer(options, generateMissingKey: singleNode, TimeProvider.System);
        builder.Services.AddSingleton(issuer);

        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = issuer.ValidationParameters;
                jwt.Events = new JwtBearerEvents
                {
                    OnMessageReceived = context =>
                    {
                        if (string.IsNullOrEmpty(context.Token)
                            && context.Request.Query.TryGetValue(AccessTokenParameter, out var token)
                            && AcceptsQueryToken(context.Request.Path))
                        {
                            context.Token = token.ToString();
                        }

                        return Task.CompletedTask;
                    },
                    OnTokenValidated = context =>
                    {
                        // A well-signed token that names no user identifies nobody: 401, like any other bad token,
                        // rather than a 403 from the policy.
                        if (string.IsNullOrWhiteSpace(context.Principal?.FindFirst(TokenIssuer.UserClaim)?.Value))
                        {
                            context.Fail("The token has no 'sub' claim.");
                        }

                        return Task.CompletedTask;
                    },
                };
            });

        builder.Services.AddAuthorizationBuilder()
            .SetDefaultPolicy(new AuthorizationPolicyBuilder(JwtBearerDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireClaim(TokenIssuer.UserClaim)
                .Build());
        return builder;
    }

    private static bool AcceptsQueryToken(PathString path) =>
        path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase)
        || (path.StartsWithSegments("/api/conversations", StringComparison.OrdinalIgnoreCase)
            && path.Value!.EndsWith("/events/stream", StringComparison.OrdinalIgnoreCase))
        // The front-end protocols' reconnecting streams, which a page may open without a header.
        || (path.StartsWithSegments("/api/ui/chat", StringComparison.OrdinalIgnoreCase)
            && path.Value!.EndsWith("/stream", StringComparison.OrdinalIgnoreCase))
        || (path.StartsWithSegments("/api/agui", StringComparison.OrdinalIgnoreCase)
            && path.Value!.EndsWith("/connect", StringComparison.OrdinalIgnoreCase));
}
