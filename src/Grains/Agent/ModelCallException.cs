using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent;

/// <summary>
/// A model call that failed, classified: the code <c>run.failed</c> reports if it is the last attempt, whether
/// another attempt may succeed, and how long the provider asked us to wait. Its message never carries secrets:
/// it is built from status codes and our own words, not from request details.
/// </summary>
public sealed class ModelCallException(string code, string message, bool transient, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Rate limited, overloaded or unreachable.</summary>
    public const string Unavailable = "model_unavailable";

    /// <summary>No answer, or a stream that stalled, within the limits.</summary>
    public const string Timeout = "model_timeout";

    /// <summary>The provider refused the request or sent something we cannot read.</summary>
    public const string Error = "model_error";

    public string Code { get; } = code;

    public bool Transient { get; } = transient;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    public static ModelCallException Classify(Exception ex) => ex switch
    {
        ModelCallException known => known,
        HttpOperationException { StatusCode: { } status } h => FromStatus((int)status, RetryAfterOf(h.InnerException as ClientResultException), ex),
        // A streamed call sends its request on the first MoveNextAsync, outside the connector's wrapping, so an HTTP
        // error arrives as the OpenAI SDK's own ClientResultException (status 0: no response at all).
        ClientResultException { Status: > 0 } result => FromStatus(result.Status, RetryAfterOf(result), ex),
        HttpOperationException { InnerException: JsonException or FormatException } =>
            new(Error, "The model provider sent a malformed response.", true, null, ex),
        ClientResultException or HttpOperationException or HttpRequestException or IOException or SocketException =>
            new(Unavailable, "The connection to the model provider failed.", true, null, ex),
        JsonException or FormatException =>
            new(Error, "The model provider sent a malformed response.", true, null, ex),
        _ => new(Error, $"The model call failed ({ex.GetType().Name}).", true, null, ex),
    };

    private static ModelCallException FromStatus(int status, TimeSpan? retryAfter, Exception ex) => status switch
    {
        429 => new(Unavailable, "The model provider is rate limiting us (429).", true, retryAfter, ex),
        408 => new(Timeout, "The model provider timed out (408).", true, retryAfter, ex),
        >= 500 => new(Unavailable, $"The model provider failed ({status}).", true, retryAfter, ex),
        _ => new(Error, $"The model provider refused the request ({status}).", false, null, ex),
    };

    private static TimeSpan? RetryAfterOf(ClientResultException? result)
    {
        if (result?.GetRawResponse() is not { } response
            || !response.Headers.TryGetValue("Retry-After", out var value) || value is null)
        {
            return null;
        }

        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(Math.Max(0, seconds));
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at - DateTimeOffset.UtcNow is { } wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero
            : null;
    }
}
