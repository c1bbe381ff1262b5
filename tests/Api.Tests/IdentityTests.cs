using System.Net;
using System.Net.Http.Json;
using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Agents.Api.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Api.Tests;

/// <summary>Identity set-ups other than the fixture's, on small apps without Orleans or on apps of their own.</summary>
public sealed class IdentityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false, null, HttpStatusCode.NotFound)]
    [InlineData(false, "true", HttpStatusCode.OK)]
    [InlineData(true, null, HttpStatusCode.OK)]
    [InlineData(true, "false", HttpStatusCode.NotFound)]
    public async Task DevTokenRoute_ExistsOnlyWhileDevTokensIsOn(bool singleNode, string? devTokens, HttpStatusCode expected)
    {
        // (In a cluster only with the explicit override; see ClusterGateway_WithDevTokens_….)
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Auth:SigningKey"] = "a-test-signing-key-that-is-long-enough-for-hs256",
            ["Auth:DevTokens"] = devTokens,
            ["Auth:AllowDevTokensInCluster"] = singleNode ? null : "true",
        });
        builder.AddAgentIdentity(singleNode);
        await using var app = builder.Build();
        app.MapDevTokenApi();
        await app.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using var response = await http.PostAsJsonAsync("/api/dev/token", new { user = "alice" }, Ct);
        Assert.Equal(expected, response.StatusCode);
        await app.StopAsync(Ct);
    }

    [Fact]
    public void ClusterMode_WithoutASigningKey_RefusesToStart()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new TokenIssuer(new AuthOptions(), generateMissingKey: false, TimeProvider.System));
        Assert.Contains("Auth:SigningKey", error.Message);
        Assert.Throws<InvalidOperationException>(() => new TokenIssuer(new AuthOptions { SigningKey = "short" }, generateMissingKey: true, TimeProvider.System));
        Assert.True(new TokenIssuer(new AuthOptions(), generateMissingKey: true, TimeProvider.System).IsKeyGenerated);
    }

    [Theory]
    [InlineData("true", null, true)]
    [InlineData("true", "false", true)]
    [InlineData("true", "true", false)]
    [InlineData(null, null, false)]
    [InlineData("false", null, false)]
    public async Task ClusterGateway_WithDevTokens_RefusesToStart_UnlessExplicitlyAllowed(string? devTokens, string? allow, bool refused)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Orleans:Mode"] = "Cluster",
            ["Storage:Provider"] = "Postgres",
            // Never reached: the app is built, not started.
            ["ConnectionStrings:Agents"] = "Host=127.0.0.1;Port=1;Database=none;Username=none;Password=none",
            ["Auth:SigningKey"] = SigningKey,
            ["Auth:DevTokens"] = devTokens,
            ["Auth:AllowDevTokensInCluster"] = allow,
        };

        if (refused)
        {
            var error = Assert.Throws<OptionsValidationException>(() => TestApp.Build(settings));
            Assert.Contains("Auth:AllowDevTokensInCluster", error.Message);
            Assert.Contains("Orleans:Mode=Cluster", error.Message);
            return;
        }

        await using var app = TestApp.Build(settings);
        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>().Select(e => e.RoutePattern.RawText);
        Assert.Equal(devTokens == "true", routes.Contains("/api/dev/token"));
    }

    [Fact]
    public async Task TokensAndTheSigningKey_AreNeverLogged()
    {
        var logs = new LogCapture();
        var directory = TestEnvironment.NewTempDirectory();
        var settings = TestApp.SingleNode(Path.Combine(directory, "agents.db"));
        settings["Auth:SigningKey"] = SigningKey;
        // Everything the gateway, authentication and SignalR say, down to Debug.
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug";
        settings["Logging:LogLevel:Microsoft.IdentityModel"] = "Debug";
        settings["Logging:LogLevel:Agents"] = "Debug";
        var app = TestApp.Build(settings, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(logs);
        });
        string token;
        try
        {
            await app.StartAsync(Ct);
            var baseAddress = new Uri(app.Urls.Single());
            token = app.Services.GetRequiredService<TokenIssuer>().Issue(TestEnvironment.NewUser("secret")).Token;

            // The token in a header, in the query (hub WebSocket, SSE), refused when tampered with or expired.
            using var http = new HttpClient { BaseAddress = baseAddress };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var created = await http.PostAsJsonAsync("/api/conversations", new { title = "secret" }, Ct);
            created.EnsureSuccessStatusCode();
            using var tampered = new HttpRequestMessage(HttpMethod.Get, "/api/conversations");
            tampered.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^4] + "AAAA");
            using var refused = await http.SendAsync(tampered, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var anonymous = new HttpClient { BaseAddress = baseAddress };
            using var notYours = await anonymous.GetAsync($"/api/conversations?access_token={token}", Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, notYours.StatusCode);
            var id = (await created.Content.ReadFromJsonAsync<ConversationInfo>(Hosting.ApiJson.Options, Ct))!.Id;
            using (var stream = await anonymous.GetAsync($"/api/conversations/{id}/events/stream?access_token={token}", HttpCompletionOption.ResponseHeadersRead, Ct))
            {
                Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            }

            // As browsers connect: the WebSocket with the token in its query.
            using (var socket = new System.Net.WebSockets.ClientWebSocket())
            {
                var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = Hubs.AgentHub.Path, Query = $"access_token={token}" }.Uri;
                await socket.ConnectAsync(uri, Ct);
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, Ct);
            }

            await using var hub = new HubConnectionBuilder()
                .WithUrl(new Uri(baseAddress, Hubs.AgentHub.Path), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
                .Build();
            await hub.StartAsync(Ct);
            Assert.Single(await hub.InvokeAsync<List<ConversationInfo>>("ListConversations", Ct));
            await hub.StopAsync(Ct);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(timeout.Token);
            await app.DisposeAsync();
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        var entries = logs.Entries;
        Assert.Contains(entries, e => e.Contains("Microsoft.AspNetCore.Authentication", StringComparison.Ordinal));
        // The request log is there, with the query's token redacted.
        Assert.Contains(entries, e => e.Contains("access_token=[redacted]", StringComparison.Ordinal));
        var signature = token.Split('.')[2];
        Assert.All(entries, e =>
        {
            Assert.DoesNotContain(signature, e, StringComparison.Ordinal);
            Assert.DoesNotContain(SigningKey, e, StringComparison.Ordinal);
        });
    }

    private const string SigningKey = "a-test-signing-key-that-is-long-enough-for-hs256";

    /// <summary>Every log entry as text: category, message, structured values, exception.</summary>
    private sealed class LogCapture : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _entries = new();

        public IReadOnlyList<string> Entries => [.. _entries];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCapture capture, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // The structured values too: a secret could hide in a property the message does not show.
                var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join("; ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
                capture._entries.Enqueue($"{logLevel} {category}: {formatter(state, exception)} [{values}] {exception}");
            }
        }
    }
}
