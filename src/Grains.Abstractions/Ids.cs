using System.Security.Cryptography;

namespace Agents;

/// <summary>
/// Server-generated identifiers: a prefix, then a time-ordered, random, URL-safe body,
/// so ids sort roughly by creation and never collide in practice.
/// </summary>
public static class Ids
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// <summary>The longest id the contract allows.</summary>
    public const int MaxLength = 64;

    /// <summary>A new conversation id, <c>c_…</c>.</summary>
    public static string NewConversationId() => New("c_");

    /// <summary>A new run id, <c>r_…</c>.</summary>
    public static string NewRunId() => New("r_");

    /// <summary>A new message id, <c>m_…</c>.</summary>
    public static string NewMessageId() => New("m_");

    /// <summary>A new tool call id, <c>call_…</c>.</summary>
    public static string NewCallId() => New("call_");

    /// <summary>A new input request id, <c>q_…</c>.</summary>
    public static string NewRequestId() => New("q_");

    /// <summary>Whether <paramref name="id"/> is 1–64 characters of <c>[A-Za-z0-9_-]</c>.</summary>
    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Returns <paramref name="id"/> when <see cref="IsValid"/>; otherwise refuses it as <c>invalid_argument</c>.</summary>
    /// <param name="id">The id to check.</param>
    /// <param name="name">What the id is called in the refusal (<c>conversationId</c>, <c>requestId</c>).</param>
    /// <exception cref="ConversationException">The id is malformed.</exception>
    public static string Require([System.Diagnostics.CodeAnalysis.NotNull] string? id, string name)
    {
        if (!IsValid(id) || id is null)
        {
            throw ConversationException.InvalidArgument(Malformed(name));
        }

        return id;
    }

    /// <summary>The refusal's explanation for a malformed id called <paramref name="name"/>.</summary>
    public static string Malformed(string name) => $"{name} must be 1-{MaxLength} characters of [A-Za-z0-9_-]";

    private static string New(string prefix)
    {
        // 48 bits of milliseconds then 80 random bits, Crockford base32 (a ULID body).
        Span<char> body = stackalloc char[26];
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 9; i >= 0; i--)
        {
            body[i] = Alphabet[(int)(time & 31)];
            time >>= 5;
        }

        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        for (var i = 10; i < 26; i++)
        {
            body[i] = Alphabet[random[i - 10] & 31];
        }

        return string.Concat(prefix, body);
    }
}
