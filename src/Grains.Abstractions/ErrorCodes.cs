namespace Agents;

/// <summary>
/// Error codes of the wire contract; an error message starts with one of them and a colon.
/// </summary>
public static class ErrorCodes
{
    /// <summary>The request is malformed or refers to something in the wrong state of being.</summary>
    public const string InvalidArgument = "invalid_argument";

    /// <summary>The conversation or request does not exist, or belongs to someone else.</summary>
    public const string NotFound = "not_found";

    /// <summary>The request contradicts what already happened (a second answer, a reused client message id).</summary>
    public const string Conflict = "conflict";

    /// <summary>The caller is sending too much too fast.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A text or payload is over its limit.</summary>
    public const string TooLarge = "too_large";

    /// <summary>
    /// The database could not serve the call (down, out of connections, out of disk): nothing was changed; retry.
    /// Not in the v1 contract's list; an outage is outside what it describes (docs/protocol.md).
    /// </summary>
    public const string Unavailable = "unavailable";
}
