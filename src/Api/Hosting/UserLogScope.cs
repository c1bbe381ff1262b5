using System.Diagnostics;
using Agents.Api.Identity;

namespace Agents.Api.Hosting;

/// <summary>
/// Puts the caller's user id on everything a request does: a <c>UserId</c> logging scope around the rest of the
/// pipeline (for the hub, the whole connection, so its invocations too) and <c>enduser.id</c> on the request's span.
/// </summary>
public static class UserLogScope
{
    public static IApplicationBuilder UseUserLogScope(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Agents.Api.Requests");
        return app.Use(async (context, next) =>
        {
            if (context.User.FindFirst(TokenIssuer.UserClaim)?.Value is not { } userId)
            {
                await next(context);
                return;
            }

            Activity.Current?.SetTag("enduser.id", userId);
            using (logger.BeginScope(new Dictionary<string, object> { ["UserId"] = userId }))
            {
                await next(context);
            }
        });
    }
}
