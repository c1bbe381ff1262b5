using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Tools;

/// <summary>What a tool can learn about the call it serves.</summary>
public static class ToolCall
{
    /// <summary>The argument under which the conversation passes the call id.</summary>
    public const string CallIdArgument = "__agent_call_id";

    /// <summary>
    /// The id of this call: stored before the tool runs and stable across restarts, so a tool can pass it on
    /// as an idempotency key to the systems it changes.
    /// </summary>
    public static string? IdOf(KernelArguments arguments) =>
        arguments.TryGetValue(CallIdArgument, out var id) ? id as string : null;
}
