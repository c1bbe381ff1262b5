using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace Agents.Api.Protocols;

/// <summary>
/// Writes protocol frames as <c>text/event-stream</c>: <c>id: seq</c> and one <c>data:</c> line each (the AI SDK's
/// <c>[DONE]</c> included), and a comment heartbeat whenever nothing was written for a while, so proxies keep the
/// response open. Closing the response is never a cancel: the run goes on, and the client resumes.
/// </summary>
public sealed class ProtocolStreamResult(IAsyncEnumerable<ProtocolFrame> frames, TimeSpan heartbeat, IReadOnlyDictionary<string, string>? headers = null) : IResult
{
    private static readonly byte[] HeartbeatBytes = ": heartbeat\n\n"u8.ToArray();

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var lifetime = httpContext.RequestServices.GetRequiredService<IHostApplicationLifetime>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = stop.Token;

        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            response.Headers[name] = value;
        }

        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var body = response.Body;
        await body.FlushAsync(cancellationToken);

        var next = frames.GetAsyncEnumerator(cancellationToken);
        Task<bool>? moving = null;
        try
        {
            var lastWrite = TimeProvider.System.GetTimestamp();
            while (true)
            {
                moving ??= next.MoveNextAsync().AsTask();
                var wait = heartbeat - TimeProvider.System.GetElapsedTime(lastWrite);
                if (wait <= TimeSpan.Zero || await Task.WhenAny(moving, Task.Delay(wait, cancellationToken)) != moving)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await body.WriteAsync(HeartbeatBytes, cancellationToken);
                    await body.FlushAsync(cancellationToken);
                    lastWrite = TimeProvider.System.GetTimestamp();
                    continue;
                }

                if (!await moving)
                {
                    break;
                }

                moving = null;
                await body.WriteAsync(Format(next.Current), cancellationToken);
                await body.FlushAsync(cancellationToken);
                lastWrite = TimeProvider.System.GetTimestamp();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away or the gateway is stopping; the run is untouched.
        }
        finally
        {
            if (moving is not null)
            {
                await ((Task)moving).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await next.DisposeAsync();
        }
    }

    /// <summary>One frame; the JSON is written on one line, so one <c>data:</c> line carries it.</summary>
    public static byte[] Format(ProtocolFrame frame) =>
        Encoding.UTF8.GetBytes($"id: {frame.Seq}\ndata: {frame.Data?.ToJsonString() ?? "[DONE]"}\n\n");
}
