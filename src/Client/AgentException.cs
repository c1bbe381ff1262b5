using Microsoft.AspNetCore.SignalR;

namespace Agents.Client;

/// <summary>A refusal of the service, with the contract's error code (<see cref="ErrorCodes"/>).</summary>
public class AgentException(string code, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The contract's code: <c>invalid_argument</c>, <c>not_found</c>, <c>conflict</c>, <c>rate_limited</c>, <c>too_large</c> or <c>unavailable</c>.</summary>
    public string Code { get; } = code;

    /// <summary>
    /// The typed exception for a hub error whose message holds a code ("… HubException: not_found: …"), or null when it
    /// has none (a failure of the connection rather than a refusal).
    /// </summary>
    public static AgentException? FromHub(HubException exception)
    {
        foreach (var code in Codes)
        {
            var at = exception.Message.IndexOf(code + ":", StringComparison.Ordinal);
            if (at < 0 || (at > 0 && char.IsAsciiLetterOrDigit(exception.Message[at - 1])))
            {
                continue;
            }

            var message = exception.Message[at..];
            return code switch
            {
                ErrorCodes.NotFound => new AgentNotFoundException(message, exception),
                ErrorCodes.Conflict => new AgentConflictException(message, exception),
                ErrorCodes.RateLimited => new AgentRateLimitedException(message, exception),
                ErrorCodes.Unavailable => new AgentUnavailableException(message, exception),
                _ => new AgentException(code, message, exception),
            };
        }

        return null;
    }

    private static readonly string[] Codes =
        [ErrorCodes.InvalidArgument, ErrorCodes.NotFound, ErrorCodes.Conflict, ErrorCodes.RateLimited, ErrorCodes.TooLarge, ErrorCodes.Unavailable];
}

/// <summary>The conversation does not exist, or it is another user's.</summary>
public sealed class AgentNotFoundException(string message, Exception? inner = null) : AgentException(ErrorCodes.NotFound, message, inner);

/// <summary>The call conflicts with the conversation's state: a second answer, a rejected message during a run, a reused client message id.</summary>
public sealed class AgentConflictException(string message, Exception? inner = null) : AgentException(ErrorCodes.Conflict, message, inner);

/// <summary>Too many calls, too many running conversations, or the day's token budget is spent.</summary>
public sealed class AgentRateLimitedException(string message, Exception? inner = null) : AgentException(ErrorCodes.RateLimited, message, inner)
{
    /// <summary>How long the service asked to wait ("retry after N s"), when it said.</summary>
    public TimeSpan? RetryAfter { get; } = ParseRetryAfter(message);

    private static TimeSpan? ParseRetryAfter(string message)
    {
        const string marker = "retry after ";
        var at = message.LastIndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var digits = new string([.. message[(at + marker.Length)..].TakeWhile(char.IsAsciiDigit)]);
        return long.TryParse(digits, out var seconds) ? TimeSpan.FromSeconds(seconds) : null;
    }
}

/// <summary>
/// Another process failed (a silo or the database) or the connection could not be had: the same call may succeed in
/// a moment. The client retries the calls that are safe to repeat before it throws this.
/// </summary>
public sealed class AgentUnavailableException(string message, Exception? inner = null) : AgentException(ErrorCodes.Unavailable, message, inner);
