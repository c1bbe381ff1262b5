using System.Text.Json;
using Agents.Events;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Conversations;
using Agents.Grains.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent;

/// <summary>
/// The run's tool policy and invocation: which tool a call names, whether it waits for the user (an approval or an
/// <c>ask_user</c> question), whether it may run again after a restart, and running it with its timeout.
/// </summary>
internal sealed partial class ToolRunner(string conversationId, Kernel kernel, AgentOptions options, TimeProvider time, ILogger logger)
{
    /// <summary>The result of a call to a tool the agent does not have.</summary>
    public static ErrorInfo UnknownTool(string name) => new("unknown_tool", $"There is no tool named '{name}'.");

    /// <summary>The tool a call names, with or without its plugin prefix.</summary>
    public KernelFunction? Find(string name)
    {
        var (plugin, function) = ToolNames.Split(name);
        if (plugin is not null)
        {
            return kernel.Plugins.TryGetFunction(plugin, function, out var found) ? found : null;
        }

        return kernel.Plugins.SelectMany(p => p).FirstOrDefault(f => f.Name == function);
    }

    /// <summary>The arguments as a JSON object, or <c>{}</c> and the <c>invalid_arguments</c> result the call gets.</summary>
    public static (string Json, ErrorInfo? Problem) CheckArguments(string arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            return ("{}", null);
        }

        try
        {
            using var document = JsonDocument.Parse(arguments);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? (document.RootElement.GetRawText(), null)
                : ("{}", new ErrorInfo("invalid_arguments", "The arguments must be a JSON object."));
        }
        catch (JsonException ex)
        {
            return ("{}", new ErrorInfo("invalid_arguments", $"The arguments are not valid JSON: {ex.Message}"));
        }
    }

    /// <summary>
    /// Whether a call found open after a restart must not run again: it may have started (it needed no approval, or
    /// was approved) and it is not <see cref="IdempotentAttribute">idempotent</see>, so its effect is unknown.
    /// </summary>
    public bool MustNotRerun(PendingCall call)
    {
        var shortName = ToolNames.ShortName(call.Name);
        if (shortName == SubagentPlugin.StartSubagents)
        {
            // Picked up where it was: its children are started once whatever happens (SubagentRunner).
            return false;
        }

        var mayHaveStarted = shortName != UserInputPlugin.AskUser && (!RequiresApproval(shortName) || call.Approved == true);
        return mayHaveStarted && Find(call.Name)?.UnderlyingMethod?.IsDefined(typeof(IdempotentAttribute), inherit: false) != true;
    }

    /// <summary>The next event that settles <paramref name="call"/>: a request to the user, or the call's result.</summary>
    public async Task<ConversationEvent> SettleAsync(PendingCall call, CancellationToken cancellationToken)
    {
        var shortName = ToolNames.ShortName(call.Name);
        var isQuestion = shortName == UserInputPlugin.AskUser;
        if (isQuestion || RequiresApproval(shortName))
        {
            if (call.RequestId is null)
            {
                var (kind, prompt) = isQuestion
                    ? (InputKinds.Question, QuestionIn(call.Arguments))
                    : (InputKinds.Approval, $"Allow {shortName} with {call.Arguments}?");
                return new InputRequested(Ids.NewRequestId(), kind, prompt, call.CallId, call.Name, call.Arguments);
            }

            if (!call.Answered)
            {
                // The loop settles calls only while the run is not waiting for the user.
                throw new InvalidOperationException($"Call {call.CallId} is still waiting for request {call.RequestId}.");
            }

            if (isQuestion)
            {
                return new ToolResultReturned(call.CallId, call.Name, JsonSerializer.Serialize(call.AnswerText ?? ""), null);
            }

            if (call.Approved != true)
            {
                var remark = string.IsNullOrWhiteSpace(call.AnswerText) ? "" : $" They said: {call.AnswerText}";
                return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("denied", $"The user denied this call.{remark}"));
            }
        }

        return await InvokeAsync(call, cancellationToken);
    }

    private async Task<ToolResultReturned> InvokeAsync(PendingCall call, CancellationToken cancellationToken)
    {
        if (Find(call.Name) is not { } function)
        {
            return new ToolResultReturned(call.CallId, call.Name, null, UnknownTool(call.Name));
        }

        var arguments = ChatHistoryBuilder.ParseArguments(call.Arguments);
        arguments[ToolCall.CallIdArgument] = call.CallId;
        using var telemetry = AgentTelemetry.StartToolCall(time, conversationId, call.CallId, call.Name);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ToolTimeout);
        try
        {
            var result = await function.InvokeAsync(kernel, arguments, timeout.Token);
            var value = result.GetValue<object>();
            var json = value is null ? "null" : JsonSerializer.Serialize(value, value.GetType(), AgentJson.Options);
            return new ToolResultReturned(call.CallId, call.Name, json, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("timeout", $"The tool did not finish within {options.ToolTimeout}."));
        }
        catch (Exception ex)
        {
            var cause = ex is KernelException && ex.InnerException is not null ? ex.InnerException : ex;
            LogToolFailed(cause, conversationId, call.Name);
            return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("tool_error", cause.Message));
        }
    }

    private bool RequiresApproval(string shortName) =>
        options.ApprovalTools.Any(t => string.Equals(t, shortName, StringComparison.OrdinalIgnoreCase));

    private static string QuestionIn(string arguments)
    {
        using var document = JsonDocument.Parse(arguments);
        return document.RootElement.TryGetProperty("question", out var q) && q.ValueKind == JsonValueKind.String
            ? q.GetString()!
            : "The agent needs your input.";
    }
}
