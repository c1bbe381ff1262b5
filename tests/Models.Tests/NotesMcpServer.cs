using System.Collections.Concurrent;
using System.ComponentModel;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Agents.Models.Tests;

/// <summary>
/// A small MCP server of our own over streamable HTTP on a free loopback port, with a few note tools; it records
/// every call it serves.
/// </summary>
public sealed class NotesMcpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _authorizations = new();

    private NotesMcpServer(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>The <c>Authorization</c> header of every HTTP request the server received.</summary>
    public IReadOnlyList<string> Authorizations => [.. _authorizations];

    public IReadOnlyList<ServedCall> Calls => [.. _app.Services.GetRequiredService<CallLog>().Calls];

    public static async Task<NotesMcpServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<CallLog>();
        builder.Services.AddMcpServer(o => o.ServerInfo = new Implementation { Name = "notes", Version = "1.0" })
            .WithHttpTransport()
            .WithTools<NotesTools>();
        var app = builder.Build();
        var server = new NotesMcpServer(app);
        app.Use((context, next) =>
        {
            server._authorizations.Enqueue(context.Request.Headers.Authorization.ToString());
            return next(context);
        });
        app.MapMcp("/mcp");
        await app.StartAsync();
        server.Endpoint = new Uri(app.Urls.First().TrimEnd('/') + "/mcp");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stopping.Token);
        await _app.DisposeAsync();
    }

    /// <summary>A tool call as the server saw it: its arguments and its <c>_meta</c>.</summary>
    public sealed record ServedCall(string Tool, string Arguments, string? Meta);

    public sealed class CallLog
    {
        public ConcurrentQueue<ServedCall> Calls { get; } = new();

        public void Add(RequestContext<CallToolRequestParams> context) =>
            Calls.Enqueue(new ServedCall(
                context.Params!.Name,
                JsonSerializer.Serialize(context.Params.Arguments),
                context.Params.Meta?.ToJsonString()));
    }

    [McpServerToolType]
    public sealed class NotesTools(CallLog log)
    {
        public const string Note = "Buy oat milk and call Grandma on Sunday.";

        // A dash in the name: the agent offers it as lookup_note.
        [McpServerTool(Name = "lookup-note", ReadOnly = true), Description("Reads the note stored under a key.")]
        public string LookupNote(RequestContext<CallToolRequestParams> context, [Description("The note's key.")] string key)
        {
            log.Add(context);
            return $"{key}: {Note}";
        }

        [McpServerTool(Name = "note_stats", ReadOnly = true, UseStructuredContent = true), Description("Counts the notes.")]
        public NoteStats NoteStats(RequestContext<CallToolRequestParams> context, [Description("Only notes with this tag.")] string tag, int limit = 10)
        {
            log.Add(context);
            return new NoteStats(tag, Math.Min(3, limit));
        }

        [McpServerTool(Name = "delete_note", Destructive = true), Description("Deletes a note. Needs the user's approval.")]
        public string DeleteNote(RequestContext<CallToolRequestParams> context, string key)
        {
            log.Add(context);
            return $"deleted {key}";
        }

        [McpServerTool(Name = "broken_note"), Description("Always fails.")]
        public string BrokenNote(RequestContext<CallToolRequestParams> context, string key)
        {
            log.Add(context);
            throw new McpException($"note {key} is corrupt");
        }

        [McpServerTool(Name = "slow_note"), Description("Takes its time.")]
        public async Task<string> SlowNote(RequestContext<CallToolRequestParams> context, int seconds, CancellationToken cancellationToken)
        {
            log.Add(context);
            await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken);
            return "finally";
        }
    }

    public sealed record NoteStats(string Tag, int Count);
}
