using System.Net.Http.Headers;
using System.Net.Http.Json;
using Agents.Api.Hosting;
using Agents.Api.Streaming;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

[assembly: AssemblyFixture(typeof(Agents.Api.Tests.ApiFixture))]

namespace Agents.Api.Tests;

/// <summary>
/// The real app, started once for the test assembly exactly as <c>Program</c> starts it (<see cref="AgentApi.Build"/>):
/// Kestrel on a free loopback port, the co-hosted silo on free ports, a real SQLite file, and the Demo model
/// slowed down enough (60 tokens/s) that a dinner run takes a couple of seconds and tests can act mid-run.
/// </summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public const int MaxMessageChars = 32_768;

    private WebApplication? _app;

    public string Directory { get; } = TestEnvironment.NewTempDirectory();

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>A client without credentials.</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <summary>The running app's services (its endpoints, its token issuer).</summary>
    public IServiceProvider Services => _app!.Services;

    public IClusterClient Client => _app!.Services.GetRequiredService<IClusterClient>();

    public ConversationFeeds Feeds => _app!.Services.GetRequiredService<ConversationFeeds>();

    /// <summary>Every span the app ended, through its own OpenTelemetry pipeline (OpenTelemetry's in-memory exporter).</summary>
    public SynchronizedList<System.Diagnostics.Activity> Spans { get; } = new();

    /// <summary>The app's metrics as exported by <see cref="FlushMetrics"/>.</summary>
    public SynchronizedList<MetricSnapshot> Metrics { get; } = new();

    /// <summary>Collects and exports every metric now (cumulative values).</summary>
    public void FlushMetrics() => _app!.Services.GetRequiredService<MeterProvider>().ForceFlush();

    public async ValueTask InitializeAsync()
    {
        var settings = TestApp.SingleNode(Path.Combine(Directory, "agents.db"));
        settings["Llm:DemoTokensPerSecond"] = "60";
        settings["Llm:DemoToolLatency"] = "00:00:00.100";
        settings["Agent:MaxMessageChars"] = MaxMessageChars.ToString();
        settings["Gateway:SseHeartbeat"] = "00:00:01";
        // The spans go to the in-memory exporter added below, which the app's configuration cannot see.
        settings["Observability:Tracing"] = "true";
        _app = TestApp.Build(settings, builder =>
        {
            builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(Spans));
            builder.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(Metrics));
        });
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Urls.Single());
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(timeout.Token);
            await _app.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A development token for <paramref name="user"/>, from the app's own route.</summary>
    public Task<string> TokenAsync(string user) => DevTokens.FetchAsync(Http, user);

    /// <summary>An HTTP client that calls as <paramref name="user"/>.</summary>
    public async Task<HttpClient> HttpAsAsync(string user)
    {
        var token = await TokenAsync(user);
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A started hub connection as <paramref name="user"/> (or without a token when null).</summary>
    public async Task<HubConnection> ConnectAsync(string? user, CancellationToken cancellationToken = default)
    {
        var token = user is null ? null : await TokenAsync(user);
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(BaseAddress, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult(token))
            .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
            .Build();
        await connection.StartAsync(cancellationToken);
        return connection;
    }

}
