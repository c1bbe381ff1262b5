using System.Text;
using System.Text.Json;
using Agents.Api.Streaming;
using Agents.Events;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Agents.Api.Apis;

/// <summary>
/// Writes a <see cref="ConversationWatch"/> as <c>text/event-stream</c>: one SSE event per log event
/// (<c>id</c> = seq, so a reconnecting EventSource resumes by itself), and a <c>: heartbeat</c> comment
/// whenever nothing else was written for the heartbeat interval, so proxies keep the response open.
/// </summary>
public sealed partial class EventStreamResult(ConversationWatch watch, TimeSpan heartbeat) : IResult, IDisposable
{
    /// <summary>The SSE event, outside the log (no <c>id</c>), that ends the stream of a deleted conversation.</summary>
    public const string DeletedEvent = "deleted";

    private static readonly byte[] HeartbeatBytes = ": heartbeat\n\n"u8.ToArray();

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        using var _ = watch;
        var services = httpContext.RequestServices;
        var json = services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
        var logger = services.GetRequiredService<ILogger<EventStreamResult>>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = stop.Token;

        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var body = response.Body;
        // An opening comment sends the headers now: the client knows it is connected before the first event.
        await body.WriteAsync(": connected\n\n"u8.ToArray(), cancellationToken);
        await body.FlushAsync(cancellationToken);

        var events = watch.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        Task<bool>? next = null;
        try
        {
            var lastWrite = TimeProvider.System.GetTimestamp();
            while (true)
            {
                next ??= events.MoveNextAsync().AsTask();
                var wait = heartbeat - TimeProvider.System.GetElapsedTime(lastWrite);
                if (wait <= TimeSpan.Zero || await Task.WhenAny(next, Task.Delay(wait, cancellationToken)) != next)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await body.WriteAsync(HeartbeatBytes, cancellationToken);
                    await body.FlushAsync(cancellationToken);
                    lastWrite = TimeProvider.System.GetTimestamp();
                    continue;
                }

                if (!await next)
                {
                    break;
                }

                next = null;
                await body.WriteAsync(Format(events.Current, json), cancellationToken);
                await body.FlushAsync(cancellationToken);
                lastWrite = TimeProvider.System.GetTimestamp();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away or the gateway is stopping: a reconnecting client resumes from its Last-Event-ID.
        }
        catch (ConversationException ex) when (ex.Code == ErrorCodes.NotFound)
        {
            // Deleted: a last event says so (EventSource would otherwise reconnect and meet a 404 without knowing why).
            LogStreamEnded(logger, watch.ConversationId, ex.Message);
            var deleted = JsonSerializer.Serialize(new { conversationId = watch.ConversationId, code = ex.Code, message = ex.Message }, json);
            try
            {
                await body.WriteAsync(Encoding.UTF8.GetBytes($"event: {DeletedEvent}\ndata: {deleted}\n\n"), cancellationToken);
                await body.FlushAsync(cancellationToken);
            }
            catch (Exception write) when (write is OperationCanceledException or IOException)
            {
                // The client is gone too.
            }
        }
        catch (ConversationException ex)
        {
            // The watcher fell behind: end the response; EventSource reconnects with its Last-Event-ID.
            LogStreamEnded(logger, watch.ConversationId, ex.Message);
        }
        finally
        {
            if (next is not null)
            {
                await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await events.DisposeAsync();
        }
    }

    public void Dispose() => watch.Dispose();

    /// <summary>One SSE event; the envelope is single-line JSON, so one <c>data:</c> line carries it.</summary>
    public static byte[] Format(EventEnvelope envelope, JsonSerializerOptions options)
    {
        var data = JsonSerializer.Serialize(envelope, options);
        return Encoding.UTF8.GetBytes($"id: {envelope.Seq}\nevent: {envelope.Type}\ndata: {data}\n\n");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SSE watch of conversation {ConversationId} ended: {Reason}")]
    private static partial void LogStreamEnded(ILogger logger, string conversationId, string reason);
}
