using System.Globalization;
using System.Reflection;
using System.Threading.RateLimiting;
using Agents.Api.Hosting;
using Agents.Api.Identity;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace Agents.Api.RateLimiting;

/// <summary>What a rate-limited operation draws on.</summary>
public enum UserRateLimit
{
    /// <summary>Not limited.</summary>
    None,

    /// <summary><c>SendMessage</c> and <c>Respond</c>.</summary>
    Sends,

    /// <summary><c>CreateConversation</c>.</summary>
    Conversations,
}

/// <summary>Marks a hub method or an endpoint as drawing on the caller's budget of <see cref="Kind"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class UserRateLimitAttribute(UserRateLimit kind) : Attribute
{
    public UserRateLimit Kind { get; } = kind;
}

/// <summary>
/// The gateway's one per-user limiter (a token bucket per user and <see cref="UserRateLimit"/>, keyed by the
/// token's <c>sub</c>). The HTTP API reaches it through ASP.NET Core's rate limiting middleware
/// (<see cref="Http"/> as its global limiter), the hub through <see cref="UserRateLimitFilter"/>: both draw on the
/// same buckets, so switching transport does not double a user's budget.
/// </summary>
public sealed class UserRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<(UserRateLimit Kind, string User)> _limiter;

    public UserRateLimiter(IOptions<RateLimitOptions> options)
    {
        var o = options.Value;
        _limiter = PartitionedRateLimiter.Create<(UserRateLimit Kind, string User), (UserRateLimit, string)>(key => key.Kind switch
        {
            UserRateLimit.Sends => RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(o.SendsPerMinute, o.SendBurst)),
            UserRateLimit.Conversations => RateLimitPartition.GetTokenBucketLimiter(key, _ => Bucket(o.ConversationsPerMinute, o.ConversationBurst)),
            _ => RateLimitPartition.GetNoLimiter(key),
        });
        Http = _limiter.WithTranslatedKey<HttpContext>(KeyOf, leaveOpen: true);
    }

    /// <summary>The same limiter for HTTP requests: the endpoint's <see cref="UserRateLimitAttribute"/> and the caller choose the bucket.</summary>
    public PartitionedRateLimiter<HttpContext> Http { get; }

    /// <summary>Takes one permit from the user's bucket of <paramref name="kind"/>; a refused lease tells when to retry.</summary>
    public RateLimitLease Acquire(UserRateLimit kind, string userId) => _limiter.AttemptAcquire((kind, userId));

    /// <summary>Whole seconds until a refused lease's bucket has a permit again (at least 1).</summary>
    public static int RetryAfterSeconds(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
            ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
            : 1;

    /// <summary>The refusal's message, without the code.</summary>
    public static string Describe(UserRateLimit kind, int retryAfterSeconds) =>
        $"too many {(kind == UserRateLimit.Conversations ? "new conversations" : "messages")}; retry after {retryAfterSeconds} s";

    public void Dispose()
    {
        Http.Dispose();
        _limiter.Dispose();
    }

    private static TokenBucketRateLimiterOptions Bucket(int perMinute, int burst) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = 1,
        ReplenishmentPeriod = TimeSpan.FromMinutes(1) / perMinute,
        // Refused at once with a Retry-After, never held in a queue.
        QueueLimit = 0,
    };

    private static (UserRateLimit, string) KeyOf(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<UserRateLimitAttribute>() is { } limit
            && context.User.FindFirst(TokenIssuer.UserClaim)?.Value is { Length: > 0 } user
            ? (limit.Kind, user)
            : (UserRateLimit.None, "");
}

/// <summary>The hub's side of <see cref="UserRateLimiter"/>: a method marked with <see cref="UserRateLimitAttribute"/> draws a permit first.</summary>
public sealed class UserRateLimitFilter(UserRateLimiter limiter) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (invocationContext.HubMethod.GetCustomAttribute<UserRateLimitAttribute>() is { } limit
            && invocationContext.Context.User?.FindFirst(TokenIssuer.UserClaim)?.Value is { Length: > 0 } user)
        {
            using var lease = limiter.Acquire(limit.Kind, user);
            if (!lease.IsAcquired)
            {
                throw new HubException($"{ErrorCodes.RateLimited}: {UserRateLimiter.Describe(limit.Kind, UserRateLimiter.RetryAfterSeconds(lease))}");
            }
        }

        return await next(invocationContext);
    }
}

public static class UserRateLimitExtensions
{
    /// <summary>The per-user limits: options, the shared limiter, and ASP.NET Core's middleware over it.</summary>
    public static IServiceCollection AddUserRateLimits(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<UserRateLimiter>();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = OnRejectedAsync;
        });
        services.AddOptions<RateLimiterOptions>().Configure<UserRateLimiter>((o, limiter) => o.GlobalLimiter = limiter.Http);
        return services;
    }

    /// <summary>429 <c>application/problem+json</c> with code <c>rate_limited</c> and a <c>Retry-After</c> header.</summary>
    private static async ValueTask OnRejectedAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var kind = http.GetEndpoint()?.Metadata.GetMetadata<UserRateLimitAttribute>()?.Kind ?? UserRateLimit.Sends;
        var seconds = UserRateLimiter.RetryAfterSeconds(context.Lease);
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = ConversationProblems.Create(ErrorCodes.RateLimited, UserRateLimiter.Describe(kind, seconds)),
        });
    }
}
