using Agents.Api.Hosting;

namespace Agents.Api.Apis;

/// <summary>
/// The front-end protocols' routes refuse as <c>/api</c> does: a malformed chat or thread id before any grain is
/// touched, and the grains' refusals as problems with the status of their code (another user's id is 404).
/// </summary>
internal static class ProtocolErrors
{
    public static async ValueTask<object?> MapAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var name in new[] { "id", "threadId" })
        {
            if (context.HttpContext.Request.RouteValues.TryGetValue(name, out var id) && !Ids.IsValid(id as string))
            {
                return ConversationProblems.Result(ErrorCodes.InvalidArgument, Ids.Malformed(name));
            }
        }

        try
        {
            return await next(context);
        }
        catch (ConversationException ex)
        {
            return ConversationProblems.Result(ex.Code, ex.Message);
        }
    }
}
