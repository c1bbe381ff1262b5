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
        HttpOperationException { StatusCode: HttpStatusCode.TooManyRequests } h =>
            new(Unavailable, "The model provider is rate limiting us (429).", true, RetryAfterOf(h), ex),
        HttpOperationException { StatusCode: HttpStatusCode.RequestTimeout } h =>
            new(Timeout, "The model provider timed out (408).", true, RetryAfterOf(h), ex),
        HttpOperationException { StatusCode: >= HttpStatusCode.InternalServerError } h =>
            new(Unavailable, $"The model provider failed ({(int)h.StatusCode!}).", true, RetryAfterOf(h), ex),
        HttpOperationException { StatusCode: { } status } =>
            new(Error, $"The model provider refused the request ({(int)status}).", false, null, ex),
        HttpOperationException { InnerException: JsonException or FormatException } =>
            new(Error, "The model provider sent a malformed response.", true, null, ex),
        HttpOperationException or HttpRequestException or IOException or SocketException =>
            new(Unavailable, "The connection to the model provider failed.", true, null, ex),
        JsonException or FormatException =>
            new(Error, "The model provider sent a malformed response.", true, null, ex),
        _ => new(Error, $"The model call failed ({ex.GetType().Name}).", true, null, ex),
    };

    private static TimeSpan? RetryAfterOf(HttpOperationException exception)
    {
        if (exception.InnerException is not ClientResultException { } result
            || result.GetRawResponse() is not { } response
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
