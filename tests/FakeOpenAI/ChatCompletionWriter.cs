using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Agents.FakeOpenAI;

/// <summary>Writes a <see cref="FakeReply"/> in the shapes of the OpenAI chat completions API.</summary>
internal static class ChatCompletionWriter
{
    public static async Task WriteAsync(HttpContext context, RecordedRequest request, FakeReply reply)
    {
        try
        {
            if (reply.StatusCode != StatusCodes.Status200OK)
            {
                await WriteErrorAsync(context, reply);
            }
            else if (request.Stream)
            {
                await WriteStreamAsync(context, request, reply);
            }
            else
            {
                await WriteCompletionAsync(context, request, reply);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client gave up (a stall it timed out on, a cancelled run): nothing left to send.
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, FakeReply reply)
    {
        var (type, code) = reply.StatusCode switch
        {
            401 => ("invalid_request_error", "invalid_api_key"),
            429 => ("requests", "rate_limit_exceeded"),
            >= 500 => ("server_error", (string?)null),
            _ => ("invalid_request_error", null),
        };
        context.Response.StatusCode = reply.StatusCode;
        if (reply.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["message"] = reply.ErrorMessage ?? $"Fake OpenAI: scripted {reply.StatusCode}.",
                ["type"] = type,
                ["param"] = null,
                ["code"] = code,
            },
        }, context.RequestAborted);
    }

    private static async Task WriteStreamAsync(HttpContext context, RecordedRequest request, FakeReply reply)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";

        var envelope = new Envelope(request);
        await SendAsync(envelope.Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "", ["refusal"] = null }));
        foreach (var step in reply.Steps)
        {
            switch (step)
            {
                case FakeStep.Content content:
                    await SendAsync(envelope.Chunk(new JsonObject { ["content"] = content.Text }));
                    reply.RecordSent(content.Text);
                    break;

                case FakeStep.Stamped stamped:
                    // The chunk's JSON is made once and the piece spliced in: a bench offers tens of thousands a second.
                    var template = envelope.Chunk(new JsonObject { ["content"] = "PIECE" }).ToJsonString();
                    var cut = template.IndexOf("\"PIECE\"", StringComparison.Ordinal) + 1;
                    var (head, tail) = ("data: " + template[..cut], template[(cut + "PIECE".Length)..] + "\n\n");
                    var first = Stopwatch.GetTimestamp();
                    for (var i = 0; i < stamped.Count; i++)
                    {
                        var due = first + (long)(stamped.Interval.TotalSeconds * i * Stopwatch.Frequency);
                        if (Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due) is { TotalMilliseconds: > 0 } wait)
                        {
                            await Task.Delay(wait, aborted);
                        }

                        var piece = $"<{i},{Stopwatch.GetTimestamp()}>";
                        await WriteRawAsync(head + piece + tail);
                        reply.RecordSent(piece);
                    }

                    break;

                case FakeStep.ToolCallStart start:
                    await SendAsync(envelope.Chunk(new JsonObject
                    {
                        ["tool_calls"] = new JsonArray(new JsonObject
                        {
                            ["index"] = start.Index,
                            ["id"] = start.Id,
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = start.Name, ["arguments"] = "" },
                        }),
                    }));
                    break;

                case FakeStep.ToolCallArguments arguments:
                    await SendAsync(envelope.Chunk(new JsonObject
                    {
                        ["tool_calls"] = new JsonArray(new JsonObject
                        {
                            ["index"] = arguments.Index,
                            ["function"] = new JsonObject { ["arguments"] = arguments.Piece },
                        }),
                    }));
                    break;

                case FakeStep.Pause pause:
                    await Task.Delay(pause.Duration, aborted);
                    break;

                case FakeStep.Drop drop:
                    // What was sent reaches the client; then the connection goes away mid-response.
                    await response.Body.FlushAsync(aborted);
                    await Task.Delay(drop.Settle, aborted);
                    context.Abort();
                    return;

                case FakeStep.Malformed:
                    await WriteRawAsync($"data: {{\"id\":\"{envelope.Id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"unterminated\n\n");
                    return;
            }
        }

        await SendAsync(envelope.Chunk(new JsonObject(), reply.EffectiveFinishReason));
        if (request.IncludeUsage)
        {
            var chunk = envelope.Chunk(null);
            chunk["usage"] = Usage(reply);
            await SendAsync(chunk);
        }

        await WriteRawAsync("data: [DONE]\n\n");

        Task SendAsync(JsonObject chunk) => WriteRawAsync($"data: {chunk.ToJsonString()}\n\n");

        async Task WriteRawAsync(string text)
        {
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), aborted);
            await response.Body.FlushAsync(aborted);
        }
    }

    private static async Task WriteCompletionAsync(HttpContext context, RecordedRequest request, FakeReply reply)
    {
        var text = new StringBuilder();
        var calls = new SortedDictionary<int, (string Id, string Name, StringBuilder Arguments)>();
        foreach (var step in reply.Steps)
        {
            switch (step)
            {
                case FakeStep.Content content:
                    text.Append(content.Text);
                    break;
                case FakeStep.Stamped stamped:
                    // Not streamed: every chunk at once, stamped with the same time.
                    var piece = string.Concat(Enumerable.Range(0, stamped.Count).Select(i => $"<{i},{Stopwatch.GetTimestamp()}>"));
                    text.Append(piece);
                    reply.RecordSent(piece);
                    break;
                case FakeStep.ToolCallStart start:
                    calls[start.Index] = (start.Id, start.Name, new StringBuilder());
                    break;
                case FakeStep.ToolCallArguments arguments:
                    calls[arguments.Index].Arguments.Append(arguments.Piece);
                    break;
                case FakeStep.Pause pause:
                    await Task.Delay(pause.Duration, context.RequestAborted);
                    break;
                case FakeStep.Drop:
                    context.Abort();
                    return;
                case FakeStep.Malformed:
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync("{\"id\":\"chatcmpl-broken\",\"choices\":[", context.RequestAborted);
                    return;
            }
        }

        var message = new JsonObject { ["role"] = "assistant", ["content"] = calls.Count > 0 && text.Length == 0 ? null : text.ToString(), ["refusal"] = null };
        if (calls.Count > 0)
        {
            message["tool_calls"] = new JsonArray([.. calls.Values.Select(c => (JsonNode)new JsonObject
            {
                ["id"] = c.Id,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments.ToString() },
            })]);
        }

        var envelope = new Envelope(request);
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["id"] = envelope.Id,
            ["object"] = "chat.completion",
            ["created"] = envelope.Created,
            ["model"] = envelope.Model,
            ["system_fingerprint"] = "fp_fake",
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = message,
                ["logprobs"] = null,
                ["finish_reason"] = reply.EffectiveFinishReason,
            }),
            ["usage"] = Usage(reply),
        }, context.RequestAborted);
    }

    private static JsonObject Usage(FakeReply reply)
    {
        var (prompt, completion) = reply.EffectiveUsage;
        return new JsonObject
        {
            ["prompt_tokens"] = prompt,
            ["completion_tokens"] = completion,
            ["total_tokens"] = prompt + completion,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = 0, ["audio_tokens"] = 0 },
            ["completion_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0, ["audio_tokens"] = 0 },
        };
    }

    /// <summary>What every chunk of one response shares.</summary>
    private sealed class Envelope(RecordedRequest request)
    {
        public string Id { get; } = $"chatcmpl-fake{request.Sequence}";

        public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        public string Model { get; } = request.Json?["model"]?.GetValue<string>() ?? "fake";

        /// <summary>A chunk with this delta (none: the usage chunk, which has no choices).</summary>
        public JsonObject Chunk(JsonObject? delta, string? finishReason = null)
        {
            var chunk = new JsonObject
            {
                ["id"] = Id,
                ["object"] = "chat.completion.chunk",
                ["created"] = Created,
                ["model"] = Model,
                ["system_fingerprint"] = "fp_fake",
                ["choices"] = delta is null
                    ? new JsonArray()
                    : new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["delta"] = delta,
                        ["logprobs"] = null,
                        ["finish_reason"] = finishReason,
                    }),
            };
            if (request.IncludeUsage)
            {
                // The real API sends "usage": null on every chunk but the last when usage was asked for.
                chunk["usage"] = null;
            }

            return chunk;
        }
    }
}
