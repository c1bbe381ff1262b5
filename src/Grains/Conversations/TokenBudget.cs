using System.Globalization;
using Agents.Events;
using Agents.Grains.Agent;
using Agents.Grains.Storage;

namespace Agents.Grains.Conversations;

/// <summary>
/// The token budgets, per run and per user per UTC day, counted from the usage that every model call records in the
/// log: a run's from its fold (restarts and retries included), a user's day from the store, which adds it up in the
/// commit that stores it.
/// </summary>
internal sealed class TokenBudget(IEventStore store, AgentOptions options, TimeProvider time)
{
    public const string ExceededCode = "budget_exceeded";

    public static long Total(TokenUsage? usage) => usage is null ? 0 : usage.InputTokens + usage.OutputTokens;

    /// <summary>What <paramref name="owner"/> spent today, the daily limit, and when the day ends.</summary>
    public async Task<UserUsage> TodayAsync(string owner, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var spent = await store.GetUsageAsync(owner, UsageDay.Of(now), cancellationToken);
        return new UserUsage(spent, options.MaxTokensPerUserPerDay, UsageDay.EndOf(now));
    }

    /// <summary>Refuses a send while <paramref name="owner"/>'s day is spent: <c>rate_limited</c>, with when it resets.</summary>
    public async Task RequireDayLeftAsync(string owner)
    {
        if (options.MaxTokensPerUserPerDay is null || await DaySpentAsync(owner) is not { } today)
        {
            return;
        }

        var wait = (long)Math.Ceiling((today.ResetsAt - time.GetUtcNow()).TotalSeconds);
        throw ConversationException.RateLimited(
            $"your daily token budget of {today.Limit} is spent ({Total(today.Today)} used); it resets at " +
            $"{today.ResetsAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}; retry after {wait} s");
    }

    /// <summary>Why <paramref name="run"/> may not call the model again, or null while it may.</summary>
    public async Task<ErrorInfo?> ExceededAsync(RunState run, string owner)
    {
        if (options.MaxTokensPerRun is { } perRun && Total(run.Usage) >= perRun)
        {
            return new ErrorInfo(ExceededCode, $"The run used {Total(run.Usage)} tokens; its budget is {perRun}.");
        }

        if (options.MaxTokensPerUserPerDay is not null && await DaySpentAsync(owner) is { } today)
        {
            return new ErrorInfo(ExceededCode, $"The daily token budget of {today.Limit} is spent; it resets at midnight UTC.");
        }

        return null;
    }

    private async Task<UserUsage?> DaySpentAsync(string owner)
    {
        var today = await TodayAsync(owner);
        return Total(today.Today) >= today.Limit ? today : null;
    }
}
