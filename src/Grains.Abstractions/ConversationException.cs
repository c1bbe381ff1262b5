namespace Agents;

/// <summary>
/// A refusal that the caller can act on: its <see cref="Code"/> is one of <see cref="ErrorCodes"/>,
/// and its message is "code: explanation", so it survives being wrapped by SignalR.
/// </summary>
[GenerateSerializer, Alias("agents.ConversationException")]
public sealed class ConversationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConversationException(string code, string message)
        : base($"{code}: {message}")
    {
        Code = code;
        Detail = message;
    }

    /// <summary>One of <see cref="ErrorCodes"/>.</summary>
    [Id(0)]
    public string Code { get; }

    /// <summary>The explanation without the code.</summary>
    [Id(1)]
    public string Detail { get; }

    /// <summary>Shorthand for <see cref="ErrorCodes.NotFound"/>.</summary>
    public static ConversationException NotFound(string message) => new(ErrorCodes.NotFound, message);

    /// <summary>Shorthand for <see cref="ErrorCodes.Conflict"/>.</summary>
    public static ConversationException Conflict(string message) => new(ErrorCodes.Conflict, message);

    /// <summary>Shorthand for <see cref="ErrorCodes.InvalidArgument"/>.</summary>
    public static ConversationException InvalidArgument(string message) => new(ErrorCodes.InvalidArgument, message);

    /// <summary>Shorthand for <see cref="ErrorCodes.RateLimited"/>.</summary>
    public static ConversationException RateLimited(string message) => new(ErrorCodes.RateLimited, message);

    /// <summary>Shorthand for <see cref="ErrorCodes.Unavailable"/>.</summary>
    public static ConversationException Unavailable(string message) => new(ErrorCodes.Unavailable, message);

    /// <summary>Shorthand for <see cref="ErrorCodes.TooLarge"/>.</summary>
    public static ConversationException TooLarge(string message) => new(ErrorCodes.TooLarge, message);
}
