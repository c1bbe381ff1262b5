using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Agents.FakeOpenAI;

/// <summary>
/// An OpenAI-compatible chat completions server for tests: <c>POST /v1/chat/completions</c>, streamed as the
/// real API streams, answering each request from the <see cref="FakeScript"/> whose marker is in the request's
/// first user message, and recording every request it receives.
/// </summary>
public sealed partial class FakeOpenAIServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FakeOpenAIOptions _options;
    private readonly ConcurrentDictionary<string, FakeScript> _scripts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<RecordedRequest> _unscripted = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _sequence;

    private FakeOpenAIServer(WebApplication app, FakeOpenAIOptions options)
    {
        _app = app;
        _options = options;
    }

    /// <summary>The server's root, such as <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>What to configure as the OpenAI endpoint: the root with <c>/v1</c>.</summary>
    public Uri Endpoint => new(BaseAddress, "v1");

    /// <summary>Every request received, in order of arrival.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Requests that no script answered (no marker, or a script with nothing left).</summary>
    public IReadOnlyList<RecordedRequest> Unscripted => [.. _unscripted];

    /// <summary>Starts the server on <see cref="FakeOpenAIOptions.Url"/> (by default a free loopback port).</summary>
    public static async Task<FakeOpenAIServer> StartAsync(FakeOpenAIOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FakeOpenAIOptions();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = options.Args });
        builder.WebHost.UseUrls(options.Url);
        if (!options.LogToConsole)
        {
            // In a test process the host's defaults (and any appsettings.json beside the tests) would print every request.
            builder.Logging.ClearProviders();
        }

        var app = builder.Build();
        var server = new FakeOpenAIServer(app, options);
        server.Map(app);
        await app.StartAsync(cancellationToken);
        // With port 0 Kestrel picks one; the bound address is in Urls once started.
        server.BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/");
        return server;
    }

    /// <summary>A new script with a unique marker.</summary>
    public FakeScript NewScript()
    {
        var script = new FakeScript(Guid.NewGuid().ToString("N")[..12]);
        _scripts[script.Id] = script;
        return script;
    }

    /// <summary>Runs until the host is stopped (Ctrl+C when run alone).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(5));
        await _app.DisposeAsync();
    }

    private void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/chat/completions", HandleChatAsync);
        endpoints.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = _options.ModelName, @object = "model", created = 0, owned_by = "fake" } },
        }));
    }

    private async Task HandleChatAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var request = new RecordedRequest(
            Interlocked.Increment(ref _sequence),
            _clock.Elapsed,
            context.Request.Path,
            context.Request.Headers.Authorization.ToString() is { Length: > 0 } auth ? auth : null,
            body);
        _requests.Enqueue(request);

        if (_options.ApiKey is { } key && request.Authorization != $"Bearer {key}")
        {
            await ChatCompletionWriter.WriteAsync(context, request, FakeReply.Error(401, message: "Incorrect API key provided."));
            return;
        }

        if (request.Json is null)
        {
            await ChatCompletionWriter.WriteAsync(context, request, FakeReply.Error(400, message: "The body is not valid JSON."));
            return;
        }

        var script = FindScript(request);
        var reply = script?.Next(request);
        if (reply is null)
        {
            _unscripted.Enqueue(request);
            reply = script is null && _options.EchoWhenUnscripted
                ? Echo(request)
                : FakeReply.Error(400, message: script is null
                    ? "Fake OpenAI: no [fake:…] marker in the first user message, and echo is off."
                    : $"Fake OpenAI: script {script.Id} has no reply left.");
        }

        await ChatCompletionWriter.WriteAsync(context, request, reply);
    }

    private FakeScript? FindScript(RecordedRequest request)
    {
        var firstUser = request.Messages.FirstOrDefault(m => m["role"]?.GetValue<string>() == "user");
        if (firstUser is null || MarkerPattern().Match(RecordedRequest.TextOf(firstUser)) is not { Success: true } match)
        {
            return null;
        }

        return _scripts.GetValueOrDefault(match.Groups[1].Value);
    }

    private static FakeReply Echo(RecordedRequest request)
    {
        var last = request.Messages.LastOrDefault(m => m["role"]?.GetValue<string>() == "user");
        var text = last is null ? "Hello." : RecordedRequest.TextOf(last);
        var words = $"You said: {text}".Split(' ');
        return FakeReply.Say([.. words.Select((w, i) => i < words.Length - 1 ? w + " " : w)]);
    }

    [GeneratedRegex(@"\[fake:([A-Za-z0-9]+)\]")]
    private static partial Regex MarkerPattern();
}

/// <summary>How the fake server starts and behaves.</summary>
public sealed class FakeOpenAIOptions
{
    /// <summary>Where it listens; port 0 picks a free port.</summary>
    public string Url { get; set; } = "http://127.0.0.1:0";

    /// <summary>Command-line arguments for the host's configuration, when run alone.</summary>
    public string[]? Args { get; set; }

    /// <summary>When set, a request without <c>Authorization: Bearer {ApiKey}</c> gets 401.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Answers a request without a marker by echoing its last user message (handy when run alone).</summary>
    public bool EchoWhenUnscripted { get; set; }

    /// <summary>The model id <c>/v1/models</c> lists.</summary>
    public string ModelName { get; set; } = "fake";

    /// <summary>Logs requests to the console (when run alone); off in tests.</summary>
    public bool LogToConsole { get; set; }
}
