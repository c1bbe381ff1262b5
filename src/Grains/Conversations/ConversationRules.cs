using Agents.Events;

namespace Agents.Grains.Conversations;

/// <summary>
/// The checks of what a caller asks of a conversation, as pure functions of the command, the state and the limits:
/// a refusal is a <see cref="ConversationException"/> with the contract's code, and nothing has changed when one is
/// thrown.
/// </summary>
internal static class ConversationRules
{
    /// <summary>The longest title, in UTF-16 characters.</summary>
    public const int MaxTitleChars = 200;

    private const int MaxClientMessageIdChars = 128;

    public static void RequireUser(string userId)
    {
        if (string.IsNullOrWhiteSpace(userId))
        {
            throw ConversationException.InvalidArgument("a user is required");
        }
    }

    public static void RequireText(string? text, int maxChars)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw ConversationException.InvalidArgument("text must not be empty");
        }

        RequireLength(text, maxChars);
    }

    public static void RequireClientMessageId(string? clientMessageId)
    {
        if (clientMessageId is not null && (clientMessageId.Length is 0 or > MaxClientMessageIdChars))
        {
            throw ConversationException.InvalidArgument($"clientMessageId must be 1-{MaxClientMessageIdChars} characters");
        }
    }

    /// <summary>A fork may copy a conversation's stored events up to any seq from 0 to its last.</summary>
    public static void RequireForkSeq(long afterSeq, long lastSeq)
    {
        if (afterSeq < 0 || afterSeq > lastSeq)
        {
            throw ConversationException.InvalidArgument($"afterSeq must be between 0 and the conversation's last seq, {lastSeq}");
        }
    }

    /// <summary>A fork's copied prefix, folded, must leave no run open: the fork starts idle.</summary>
    public static void RequireForkPoint(ConversationState forked, ForkOrigin origin, EventEnvelope? last)
    {
        if (forked.ActiveRun is null && last is { Data: UserMessageSent, RunId: { } starting })
        {
            // The message that starts a run is stored with its run.started: a copy must not split them.
            throw ConversationException.InvalidArgument(
                $"afterSeq {origin.AfterSeq} is the message that starts run {starting}; fork just before it, or after that run's end");
        }

        if (forked.ActiveRun is { } open)
        {
            throw ConversationException.InvalidArgument(
                $"afterSeq {origin.AfterSeq} falls inside run {open.RunId}, which is open there; fork where no run is open, " +
                "such as just before a run's message.user or after its end");
        }

        if (forked.Queue.Count > 0)
        {
            // The end of a run whose queued message starts the next one in the same batch: copying up to the end
            // alone would strand that message without its run.
            throw ConversationException.InvalidArgument(
                $"afterSeq {origin.AfterSeq} ends a run whose queued message starts the next run there; fork before that message was sent, or after the next run's end");
        }
    }

    /// <summary>The send's mode, <c>steer</c> when it names none.</summary>
    public static string RequireMode(string? mode) =>
        mode is null ? MessageModes.Steer
        : MessageModes.All.Contains(mode) ? mode
        : throw ConversationException.InvalidArgument($"mode must be one of {string.Join(", ", MessageModes.All)}");

    /// <summary>A create's text and client message id are fine; returns the title the conversation gets.</summary>
    public static string RequireCreatable(CreateConversation command, int maxChars)
    {
        if (command.Text is not null)
        {
            RequireText(command.Text, maxChars);
        }

        RequireClientMessageId(command.ClientMessageId);
        return TitleOf(command);
    }

    /// <summary>
    /// The seq of the message first sent with this send's client message id, if any: a repeat is answered with it. A
    /// repeat with another text is a conflict.
    /// </summary>
    public static long? FirstSentWith(ConversationState state, SendMessage command)
    {
        if (command.ClientMessageId is not { } clientId || !state.ClientMessages.TryGetValue(clientId, out var first))
        {
            return null;
        }

        return first.Text == command.Text
            ? first.Seq
            : throw ConversationException.Conflict($"clientMessageId {clientId} was already used with another text");
    }

    /// <summary>The seq of the answer already given to this answer's request, if it is the same answer.</summary>
    public static long? FirstAnswer(ConversationState state, Respond command) =>
        command.RequestId is { } requestId && state.Answers.TryGetValue(requestId, out var first)
            && first.Approved == command.Approved && first.Text == command.Text
            ? first.Seq
            : null;

    /// <summary>The title a new conversation gets: the one asked for, made a label, or one taken from its first message.</summary>
    private static string TitleOf(CreateConversation command)
    {
        var title = command.Title is null ? null : AsTitle(command.Title);
        if (title is { Length: > MaxTitleChars })
        {
            throw ConversationException.TooLarge($"title is longer than {MaxTitleChars} characters");
        }

        return !string.IsNullOrEmpty(title) ? title : TitleFrom(command.Text);
    }

    /// <summary>
    /// The open call an answer is for, once the answer fits what was asked: an approval needs a decision, a question a
    /// text; a remark or answer is within the message limit.
    /// </summary>
    public static PendingCall RequireAnswerable(ConversationState state, Respond command, int maxChars)
    {
        Ids.Require(command.RequestId, "requestId");
        if (state.ClosedRequests.Contains(command.RequestId))
        {
            throw ConversationException.Conflict($"request {command.RequestId} was already answered or its run has ended");
        }

        var call = state.ActiveRun?.PendingCalls.Find(c => c.RequestId == command.RequestId)
            ?? throw ConversationException.NotFound($"no open request {command.RequestId} in conversation {state.Id}");
        if (call.RequestKind == InputKinds.Approval && command.Approved is null)
        {
            throw ConversationException.InvalidArgument("an approval needs approved: true or false");
        }

        if (call.RequestKind == InputKinds.Question && string.IsNullOrWhiteSpace(command.Text))
        {
            throw ConversationException.InvalidArgument("a question needs a text answer");
        }

        // An approval's remark may be empty; only its length is limited.
        RequireLength(command.Text, maxChars);
        return call;
    }

    /// <summary>
    /// Whether the log can take <paramref name="events"/> and still close the active run within
    /// <paramref name="maxEvents"/>. An active run keeps room for its closing events (an assistant message or
    /// interruption, a result per open call, the terminal event), so an append that ends a run always fits, and the cap
    /// is never passed.
    /// </summary>
    public static bool Fits(ConversationState state, IReadOnlyCollection<ConversationEvent> events, int maxEvents)
    {
        if (events.Any(e => EventTypes.IsTerminal(e.Type)))
        {
            return true;
        }

        // What the closing room grows by: a new run needs its own, each tool call its result.
        var growth = events.Sum(e => e switch
        {
            RunStarted => ClosingRoom(0),
            ToolCalled => 1,
            _ => 0,
        });
        var room = state.ActiveRun is { } run ? ClosingRoom(run.PendingCalls.Count) : 0;
        return state.LastSeq + events.Count + room + growth <= maxEvents;
    }

    /// <summary>Refuses what a user sends when it would not fit under the log's cap.</summary>
    public static void RequireRoom(ConversationState state, IReadOnlyCollection<ConversationEvent> events, int maxEvents)
    {
        if (!Fits(state, events, maxEvents))
        {
            throw ConversationException.TooLarge(
                $"conversation {state.Id} has reached its limit of {maxEvents} events; start a new conversation");
        }
    }

    private static int ClosingRoom(int pendingCalls) => 2 + pendingCalls;

    private static void RequireLength(string? text, int maxChars)
    {
        if (text is { Length: var length } && length > maxChars)
        {
            throw ConversationException.TooLarge($"text has {length} characters; the limit is {maxChars}");
        }
    }

    /// <summary>
    /// A title is a one-line label: control characters become spaces (NUL among them, which PostgreSQL's text
    /// cannot hold, so the same title is stored on either store), and the ends are trimmed.
    /// </summary>
    private static string AsTitle(string text) =>
        string.Create(text.Length, text, static (chars, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                chars[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        }).Trim();

    private static string TitleFrom(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "New conversation";
        }

        var line = AsTitle(text.Trim().Split('\n')[0]);
        if (line.Length <= 60)
        {
            return line;
        }

        // Never cut between the halves of a surrogate pair: half a character cannot be stored as UTF-8.
        var cut = char.IsHighSurrogate(line[56]) ? 56 : 57;
        return string.Concat(line.AsSpan(0, cut), "...");
    }
}
