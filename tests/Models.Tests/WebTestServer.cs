using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Agents.Models.Tests;

/// <summary>A small web site on a free port of 127.0.0.1 for <c>fetch_url</c> to read: pages, redirects, a huge body, slow answers.</summary>
public sealed class WebTestServer : IAsyncDisposable
{
    public const string Page = """
        <!doctype html>
        <html><head><title>  The   test page </title>
        <style>body { color: red; }</style>
        <script>alert("from the head");</script></head>
        <body>
          <nav><ul><li>Home</li><li>About</li></ul></nav>
          <h1>Main heading</h1>
          <p>First paragraph with <a href="/x">a link</a>.</p>
          <p>Second paragraph.</p>
          <script>document.write("from the body");</script>
          <noscript>Please enable scripts</noscript>
          <div hidden>hidden text</div>
          <table><tr><th>Name</th><td>Value</td></tr></table>
          <img src="/a.png" alt="A picture">
        </body></html>
        """;

    /// <summary>The most bytes <c>/huge</c> writes, so that the test site stops by itself whatever the client does.</summary>
    public const long HugeCap = 8L << 30;

    private readonly WebApplication _app;
    private long _hugeBytesSent;

    private WebTestServer(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public Uri Url(string path) => new($"http://127.0.0.1:{Port}{path}");

    /// <summary>How many bytes <c>/huge</c> had written when it stopped.</summary>
    public long HugeBytesSent => Interlocked.Read(ref _hugeBytesSent);

    /// <summary>Completes when <c>/huge</c> stops writing (the client went away, or the cap).</summary>
    public TaskCompletionSource HugeStopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<WebTestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new WebTestServer(app);

        app.MapGet("/page", () => Results.Content(Page, "text/html; charset=utf-8"));
        app.MapGet("/long", () => Results.Content($"<title>Long</title><p>{new string('x', 10_000)}</p>", "text/html"));
        app.MapGet("/latin1", () => Results.Bytes(Encoding.Latin1.GetBytes("<title>Caf\u00e9</title><p>Cr\u00e8me br\u00fbl\u00e9e</p>"), "text/html; charset=iso-8859-1"));
        app.MapGet("/missing", () => Results.Content("<title>Not found</title><p>No such page.</p>", "text/html", statusCode: 404));
        app.MapGet("/plain", () => Results.Text("Just text,\n  kept  as it is.", "text/plain"));
        app.MapGet("/json", () => Results.Text("""{"answer":42,"items":["a","b"]}""", "application/json"));
        app.MapGet("/image", () => Results.Bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0], "image/png"));
        app.MapGet("/untyped", async (HttpContext http) => await http.Response.Body.WriteAsync(new byte[] { 1, 2, 0, 3, 0, 0 }));
        app.MapGet("/redirect/{n:int}", (int n) => Results.Redirect(n == 0 ? "/page" : $"/redirect/{n - 1}"));
        app.MapGet("/to", (string url) => Results.Redirect(url));
        app.MapGet("/huge", server.HugeAsync);
        app.MapGet("/slow", async (HttpContext http) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), http.RequestAborted);
            return Results.Text("too late");
        });
        app.MapGet("/slow-body", async (HttpContext http) =>
        {
            http.Response.ContentType = "text/plain";
            await http.Response.WriteAsync("The start, then nothing", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            await Task.Delay(TimeSpan.FromSeconds(30), http.RequestAborted);
        });

        await app.StartAsync();
        server.Port = new Uri(app.Urls.First()).Port;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(5));
        await _app.DisposeAsync();
    }

    // An endless text body (up to the cap): a client that read it whole would never return.
    private async Task HugeAsync(HttpContext http)
    {
        http.Response.ContentType = "text/plain";
        var chunk = Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
        try
        {
            while (!http.RequestAborted.IsCancellationRequested && HugeBytesSent < HugeCap)
            {
                // Completed once the connection is gone: later writes would go nowhere.
                var flushed = await http.Response.BodyWriter.WriteAsync(chunk, http.RequestAborted);
                Interlocked.Add(ref _hugeBytesSent, chunk.Length);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
        }
        finally
        {
            HugeStopped.TrySetResult();
        }
    }
}
