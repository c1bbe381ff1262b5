using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Reflection;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Agents.Api.Hubs;
using Agents.Api.Identity;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Agents.Api.Tests;

/// <summary>
/// Every endpoint the running app has, and every method of the hub, found from the app itself (its
/// <see cref="EndpointDataSource"/>, reflection on <see cref="AgentHub"/>), so one added later is covered too:
/// each refuses every kind of bad token, except an explicit list of anonymous ones.
/// </summary>
public sealed class EndpointIdentityTests(ApiFixture api)
{
    /// <summary>The endpoints anyone may call, as "METHODS pattern" (<c>*</c>: any method).</summary>
    // The Demo model's research sources are read by fetch_url, which sends no token; they hold nothing of anyone.
    private static readonly string[] AnonymousEndpoints = ["* /healthz", "* /readyz", "* /metrics", "POST /api/dev/token", "GET /demo/research/{topic}/{angle}"];

    /// <summary>Static files are served before routing, so they are not endpoints: the page must load before sign-in.</summary>
    private static readonly string[] StaticFiles = ["/", "/index.html", "/app.js", "/app.css", "/lib/agents-client/index.js", "/lib/marked.esm.js", "/lib/purify.es.mjs"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryEndpoint_ButTheAllowListedOnes_RefusesEveryBadToken_With401Problem()
    {
        var endpoints = Endpoints();
        Assert.Contains(endpoints, e => e.Display.EndsWith("/messages", StringComparison.Ordinal));
        Assert.Contains(endpoints, e => e.Display.Contains(AgentHub.Path, StringComparison.Ordinal));

        // What the app declares anonymous is exactly the allow-list...
        var declared = endpoints.Where(e => !e.RequiresAuthorization).Select(e => e.Display).Order().ToList();
        Assert.Equal(AnonymousEndpoints.Order(), declared);

        // ...and so is what answers without a token.
        foreach (var endpoint in endpoints)
        {
            using var response = await SendAsync(endpoint, token: null);
            if (endpoint.RequiresAuthorization)
            {
                await AssertUnauthorizedAsync(response, $"{endpoint.Display} without a token");
            }
            else
            {
                Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
            }
        }

        foreach (var file in StaticFiles)
        {
            using var response = await api.Http.GetAsync(file, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{file}: {response.StatusCode}");
        }

        var guarded = endpoints.Where(e => e.RequiresAuthorization).ToList();
        foreach (var (kind, token) in BadTokens())
        {
            foreach (var endpoint in guarded)
            {
                using var response = await SendAsync(endpoint, token);
                await AssertUnauthorizedAsync(response, $"{endpoint.Display} with {kind}");
            }
        }

        // A good token in the query counts only where browsers cannot send a header (the hub, the SSE streams: the
        // contract's, and the front-end protocols' resume and connect).
        var good = await api.TokenAsync(TestEnvironment.NewUser("query"));
        foreach (var endpoint in guarded.Where(e => !e.Pattern.StartsWith("/hubs", StringComparison.Ordinal) && !e.Pattern.EndsWith("/events/stream", StringComparison.Ordinal)
            && !(e.Pattern.StartsWith("/api/ui/chat", StringComparison.Ordinal) && e.Pattern.EndsWith("/stream", StringComparison.Ordinal))
            && !(e.Pattern.StartsWith("/api/agui", StringComparison.Ordinal) && e.Pattern.EndsWith("/connect", StringComparison.Ordinal))))
        {
            using var response = await SendAsync(endpoint, token: null, query: $"access_token={good}");
            await AssertUnauthorizedAsync(response, $"{endpoint.Display} with the token in the query");
        }

        // No span keeps a token it was sent (a URL's query is recorded redacted).
        var signature = good.Split('.')[2];
        Assert.NotEmpty(api.Spans.Snapshot());
        Assert.All(api.Spans.Snapshot(), span => Assert.All(span.TagObjects, tag =>
            Assert.DoesNotContain(signature, tag.Value?.ToString() ?? "", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task TheHub_AndEachOfItsMethods_RefuseEveryBadToken()
    {
        // The hub requires a user, and no method opts out.
        var hub = typeof(AgentHub);
        Assert.NotNull(hub.GetCustomAttribute<AuthorizeAttribute>());
        Assert.Null(hub.GetCustomAttribute<AllowAnonymousAttribute>());
        var methods = hub.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).Where(m => !m.IsSpecialName).ToList();
        Assert.Contains(methods, m => m.Name == "Watch");
        Assert.All(methods, m => Assert.Null(m.GetCustomAttribute<AllowAnonymousAttribute>()));

        foreach (var (kind, token) in BadTokens())
        {
            // Through negotiate (the token in the header), for each method...
            foreach (var method in methods)
            {
                await using var connection = new HubConnectionBuilder()
                    .WithUrl(new Uri(api.BaseAddress, AgentHub.Path), o => o.AccessTokenProvider = () => Task.FromResult(token))
                    .Build();
                var error = await Assert.ThrowsAsync<HttpRequestException>(async () =>
                {
                    await connection.StartAsync(Ct);
                    await connection.InvokeCoreAsync(method.Name, new object?[method.GetParameters().Count(p => p.ParameterType != typeof(CancellationToken))], Ct);
                });
                Assert.True(error.StatusCode == HttpStatusCode.Unauthorized, $"{method.Name} with {kind}: {error.StatusCode}");
            }

            // ...and straight to the WebSocket without negotiating (the token in the query).
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            var query = token is null ? "" : $"access_token={Uri.EscapeDataString(token)}";
            var uri = new UriBuilder(api.BaseAddress) { Scheme = "ws", Path = AgentHub.Path, Query = query }.Uri;
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, Ct));
            Assert.True(socket.HttpStatusCode == HttpStatusCode.Unauthorized, $"WebSocket with {kind}: {socket.HttpStatusCode}");
        }
    }

    [Fact]
    public async Task AHubConnection_EndsWhenItsTokenExpires()
    {
        var token = Mint(TestEnvironment.NewUser("expiring"), expires: DateTimeOffset.UtcNow.AddSeconds(3));
        await using var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(api.BaseAddress, AgentHub.Path), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
            .Build();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        await connection.StartAsync(Ct);
        Assert.Empty(await connection.InvokeAsync<List<ConversationInfo>>("ListConversations", Ct));

        await closed.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(HubConnectionState.Disconnected, connection.State);
    }

    /// <summary>Every kind of token that must not get in, with what it is; a null token is none at all.</summary>
    private IEnumerable<(string Kind, string? Token)> BadTokens()
    {
        var now = DateTimeOffset.UtcNow;
        var user = TestEnvironment.NewUser("intruder");
        yield return ("no token", null);
        yield return ("an empty token", "");
        yield return ("a malformed token", "not.a.token");
        yield return ("garbage", "eyJhbGciOiJIUzI1NiJ9.garbage");
        yield return ("an expired token", Mint(user, expires: now.AddMinutes(-10)));
        yield return ("a token not valid yet", Mint(user, notBefore: now.AddMinutes(10), expires: now.AddMinutes(20)));
        yield return ("a token signed with another key", Mint(user, key: new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(32))));
        yield return ("a token for another audience", Mint(user, audience: "someone-else"));
        yield return ("a token from another issuer", Mint(user, issuer: "someone-else"));
        yield return ("a token signed with HS512", Mint(user, algorithm: SecurityAlgorithms.HmacSha512, key: new SymmetricSecurityKey([.. SigningKey.Key, .. SigningKey.Key])));
        yield return ("a token without a user", Mint(user: null));
        yield return ("an unsigned token (alg none)", Unsigned(user));
    }

    private SymmetricSecurityKey SigningKey => api.Services.GetRequiredService<TokenIssuer>().SigningKey;

    private AuthOptions Auth => api.Services.GetRequiredService<IOptions<AuthOptions>>().Value;

    /// <summary>A token like the app's own, but with whatever is wrong with it.</summary>
    private string Mint(
        string? user,
        DateTimeOffset? expires = null,
        DateTimeOffset? notBefore = null,
        SecurityKey? key = null,
        string? audience = null,
        string? issuer = null,
        string algorithm = SecurityAlgorithms.HmacSha256)
    {
        var expiry = expires ?? DateTimeOffset.UtcNow.AddMinutes(10);
        var from = notBefore ?? expiry.AddMinutes(-30);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Auth.Issuer,
            Audience = audience ?? Auth.Audience,
            Subject = new ClaimsIdentity(user is null ? [new Claim("name", "nobody")] : [new Claim(TokenIssuer.UserClaim, user)]),
            IssuedAt = from.UtcDateTime,
            NotBefore = from.UtcDateTime,
            Expires = expiry.UtcDateTime,
            SigningCredentials = new SigningCredentials(key ?? SigningKey, algorithm),
        });
    }

    private string Unsigned(string user)
    {
        static string Encode(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var exp = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        return $"{Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}")}.{Encode($"{{\"sub\":\"{user}\",\"iss\":\"{Auth.Issuer}\",\"aud\":\"{Auth.Audience}\",\"exp\":{exp}}}")}.";
    }

    private List<EndpointInfo> Endpoints() =>
    [
        .. api.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Select(e => new EndpointInfo(
                e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Order().ToArray() ?? [],
                "/" + e.RoutePattern.RawText!.Trim('/'),
                e.RoutePattern,
                e.Metadata.GetMetadata<IAllowAnonymous>() is null && e.Metadata.GetOrderedMetadata<IAuthorizeData>().Count > 0))
            .DistinctBy(e => e.Display),
    ];

    private async Task<HttpResponseMessage> SendAsync(EndpointInfo endpoint, string? token, string? query = null)
    {
        var method = endpoint.Methods.FirstOrDefault() ?? HttpMethods.Get;
        var path = endpoint.SamplePath() + (query is null ? "" : "?" + query);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (method != HttpMethods.Get)
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        return await api.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
    }

    private static async Task AssertUnauthorizedAsync(HttpResponseMessage response, string what)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{what}: {response.StatusCode} {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{what}: {response.Content.Headers.ContentType}");
        Assert.Contains("\"status\":401", body, StringComparison.Ordinal);
    }

    private sealed record EndpointInfo(string[] Methods, string Pattern, RoutePattern Route, bool RequiresAuthorization)
    {
        public string Display => $"{(Methods.Length == 0 ? "*" : string.Join(",", Methods))} {Pattern}";

        /// <summary>The route with a well-formed value in each parameter (a conversation that does not exist).</summary>
        public string SamplePath() =>
            "/" + string.Join("/", Route.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
            {
                RoutePatternLiteralPart literal => literal.Content,
                RoutePatternSeparatorPart separator => separator.Content,
                RoutePatternParameterPart => "c_identitycheck",
                _ => "",
            }))));
    }
}
