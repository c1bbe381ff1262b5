namespace Agents;

/// <summary>
/// Exponential backoff between attempts of a retried operation: <see cref="Initial"/> doubled per attempt up to
/// <see cref="Max"/>, with jitter (each delay drawn from its upper half) so that callers that failed together do not
/// retry together. Waits on the given <see cref="TimeProvider"/>, so tests may drive it.
/// </summary>
/// <param name="Initial">The delay before the second attempt.</param>
/// <param name="Max">The longest delay.</param>
/// <param name="Jitter">Whether a delay is drawn from [d/2, d] rather than being d.</param>
public sealed record Backoff(TimeSpan Initial, TimeSpan Max, bool Jitter = true)
{
    /// <summary>The delay after the failed attempt number <paramref name="attempt"/> (1 for the first).</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var doubled = Initial.Ticks * Math.Pow(2, Math.Min(attempt - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(doubled, Max.Ticks));
        return Jitter ? delay * (0.5 + Random.Shared.NextDouble() / 2) : delay;
    }

    /// <summary>Waits <see cref="DelayAfter"/> for <paramref name="attempt"/>; returns the delay waited.</summary>
    public async Task<TimeSpan> WaitAsync(int attempt, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var delay = DelayAfter(attempt);
        await Task.Delay(delay, time, cancellationToken);
        return delay;
    }
}
