using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Agents.Events;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Conversations;
using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

/// <summary>
/// Runs a <c>start_subagents</c> call: records a child per task, starts the children, waits for every one to end
/// without holding a grain call (in the loop's turns, woken by a child's word or a poll), records each end, then the
/// call's result. Exactly once across crashes: a child's id is derived from this conversation, the call and the
/// task's place, it is recorded before it is started, and starting a child that exists already does nothing.
/// </summary>
internal sealed partial class SubagentRunner(ConversationLog log, IGrainFactory grains, AgentOptions options, TimeProvider time, ILogger logger)
{
    private TaskCompletionSource _word = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static bool Handles(PendingCall call) => ToolNames.ShortName(call.Name) == SubagentPlugin.StartSubagents;

    /// <summary>A child said it ended: look now rather than at the next poll.</summary>
    public void ChildEnded() => _word.TrySetResult();

    public async Task RunAsync(RunState run, PendingCall call, CancellationToken cancellationToken)
    {
        var state = log.State;
        var (tasks, problem) = ParseTasks(call.Arguments);
        if (call.Subagents.Count == 0)
        {
            problem ??= state.Depth >= options.MaxSubagentDepth
                ? new ErrorInfo("too_deep", $"Sub-agents may nest {options.MaxSubagentDepth} deep; this conversation is at depth {state.Depth}.")
                : null;
            if (problem is not null)
            {
                await log.AppendAsync(run.RunId, new ToolResultReturned(call.CallId, call.Name, null, problem));
                return;
            }

            await log.AppendAsync(run.RunId, [.. tasks.Select((t, i) => new SubagentStarted(call.CallId, ChildId(state.Id, call.CallId, i), t.Title))]);
        }

        // Started again by every activation that runs this call: a child that exists already is left as it is.
        foreach (var (child, task) in call.Subagents.Zip(tasks).Where(p => p.First.Outcome is null).ToList())
        {
            try
            {
                await Child(child.ChildId).StartAsSubagentAsync(new SubagentStart(state.Owner, state.Id, state.Depth + 1, task.Title, task.Prompt), cancellationToken);
            }
            catch (ConversationException refused)
            {
                // Over the user's cap, say: that task fails, the others go on.
                await log.AppendAsync(run.RunId, new SubagentEnded(call.CallId, child.ChildId, RunOutcome.Failed, null, new ErrorInfo(refused.Code, refused.Detail)));
            }
        }

        while (call.Subagents.Any(c => c.Outcome is null))
        {
            // Taken before asking, so a word that comes while we ask is not missed.
            var word = _word = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            foreach (var child in call.Subagents.Where(c => c.Outcome is null).ToList())
            {
                if (await Child(child.ChildId).GetSubagentOutcomeAsync(state.Owner, cancellationToken) is { } ended)
                {
                    await log.AppendAsync(run.RunId, new SubagentEnded(call.CallId, child.ChildId, ended.Outcome, ended.Text, ended.Error));
                }
            }

            if (call.Subagents.Any(c => c.Outcome is null))
            {
                await Task.WhenAny(word.Task, Task.Delay(options.SubagentPollPeriod, time, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        var results = call.Subagents.Select(c => new SubagentResult(c.ChildId, c.Title, c.Outcome!.Value, c.Text, c.Error)).ToList();
        await log.AppendAsync(run.RunId, new ToolResultReturned(call.CallId, call.Name, JsonSerializer.Serialize(results, AgentJson.Options), null));
    }

    /// <summary>Cancels the children of the run's open calls that have not ended; the parent's run is closing.</summary>
    public async Task CancelChildrenAsync(RunState run)
    {
        foreach (var child in run.PendingCalls.Where(Handles).SelectMany(c => c.Subagents).Where(c => c.Outcome is null).ToList())
        {
            try
            {
                await Child(child.ChildId).CancelAsync(log.State.Owner);
            }
            catch (Exception ex)
            {
                // Not started yet, or gone: nothing of it runs on.
                LogChildCancelFailed(ex, log.State.Id, child.ChildId);
            }
        }
    }

    /// <summary>Deletes every child of this conversation, theirs first; fails (and may be retried) while one cannot be deleted.</summary>
    public async Task DeleteChildrenAsync(IReadOnlyList<string> childIds)
    {
        foreach (var childId in childIds)
        {
            try
            {
                await Child(childId).DeleteAsync(log.State.Owner);
            }
            catch (ConversationException gone) when (gone.Code == ErrorCodes.NotFound)
            {
            }
        }
    }

    /// <summary>The tasks of a call, within the fan-out limit and each with a title and a prompt; or why not.</summary>
    private (List<SubagentTask> Tasks, ErrorInfo? Problem) ParseTasks(string arguments)
    {
        List<SubagentTask>? tasks = null;
        try
        {
            using var document = JsonDocument.Parse(arguments);
            if (document.RootElement.TryGetProperty("tasks", out var list))
            {
                tasks = list.Deserialize<List<SubagentTask>>(AgentJson.Options);
            }
        }
        catch (JsonException)
        {
        }

        if (tasks is null || tasks.Any(t => string.IsNullOrWhiteSpace(t?.Title) || string.IsNullOrWhiteSpace(t.Prompt)))
        {
            return ([], new ErrorInfo("invalid_arguments", "tasks must be a list of { title, prompt }, each with text."));
        }

        if (tasks.Count < 1 || tasks.Count > options.MaxSubagentsPerCall)
        {
            return ([], new ErrorInfo("invalid_arguments", $"Give 1 to {options.MaxSubagentsPerCall} tasks; {tasks.Count} were given."));
        }

        if (tasks.FirstOrDefault(t => t.Prompt.Length > options.MaxMessageChars || t.Title.Length > ConversationRules.MaxTitleChars) is { } tooLong)
        {
            return ([], new ErrorInfo("invalid_arguments", $"The task '{tooLong.Title[..Math.Min(40, tooLong.Title.Length)]}' is too long."));
        }

        return (tasks, null);
    }

    private IConversationGrain Child(string childId) => grains.GetGrain<IConversationGrain>(childId);

    /// <summary>The same id for the same task of the same call, on every activation: what makes a start happen once.</summary>
    private static string ChildId(string parentId, string callId, int index)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{parentId}\n{callId}\n{index}"));
        return "c_" + Convert.ToHexString(hash, 0, 13).ToLowerInvariant();
    }

    private sealed record SubagentResult(string ChildId, string Title, RunOutcome Outcome, string? Text, ErrorInfo? Error);
}
