using Agents.Events;
using Agents.Grains.Conversations;
using Agents.Grains.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Agents.Grains.Agent;

/// <summary>
/// The agent loop of a conversation's active run: resume it after a restart, then model steps and tool calls until
/// the run ends or waits for the user; close what is open when it is cancelled or fails. It runs in later turns of
/// the grain's activation, started from a call that returns at once, and decides only on the log's state.
/// </summary>
internal sealed partial class AgentLoop(
    ConversationLog log,
    ModelStep model,
    ToolRunner tools,
    SubagentRunner subagents,
    TokenBudget budget,
    AgentOptions options,
    Action onStopped,
    ILogger logger)
{
    private static readonly ErrorInfo Superseded = new("superseded", "The user sent a message that replaced this step; the tool was not run.");

    private Task _loop = Task.CompletedTask;
    private CancellationTokenSource? _cancellation;

    // The model step streaming now, if any: a message sent with mode interrupt cuts it.
    private CancellationTokenSource? _step;

    public bool IsRunning => !_loop.IsCompleted;

    /// <summary>The loop as it runs (completed when it is not running); it never faults.</summary>
    public Task Completion => _loop;

    /// <summary>Starts the loop unless it runs already, the log is broken or no run needs it; whether it started.</summary>
    public bool Start(bool resume)
    {
        if (IsRunning || log.IsBroken || log.State.ActiveRun is null)
        {
            return false;
        }

        _cancellation?.Dispose();
        _cancellation = new CancellationTokenSource();
        _loop = RunAsync(resume, _cancellation.Token);
        return true;
    }

    /// <summary>Stops the loop where it is (deactivation, a broken log); the run stays open, and a later loop resumes it.</summary>
    public void Stop() => _cancellation?.Cancel();

    /// <summary>Cancels the active run, if any: the loop stops, what is open is closed, then <c>run.cancelled</c>.</summary>
    public async Task CancelRunAsync()
    {
        if (log.State.ActiveRun is not { } run)
        {
            return;
        }

        Stop();
        await _loop;
        // The loop may have ended the run on its own meanwhile; close it only if it is still the same one.
        if (log.State.ActiveRun?.RunId == run.RunId)
        {
            await CloseRunAsync(run, new RunCancelled(run.Usage), InterruptReasons.Cancelled, new ErrorInfo("cancelled", "The run was cancelled."));
        }
    }

    /// <summary>
    /// A message sent with mode <c>interrupt</c>: a run waiting for the user has its open calls settled as a cancel
    /// settles them; the message is appended; a streaming model step is cut (it closes its message as
    /// <c>superseded</c>) and the loop steps again with the message in the history. A tool already running finishes.
    /// Returns the message's seq.
    /// </summary>
    public async Task<long> InterruptAsync(RunState run, UserMessageSent message)
    {
        var events = new List<ConversationEvent>();
        if (run.IsWaiting)
        {
            events.AddRange(run.PendingCalls.Select(c => new ToolResultReturned(c.CallId, c.Name, null, Superseded)));
        }

        events.Add(message);
        var appended = log.Append(run.RunId, [.. events]);
        _step?.Cancel();
        await appended.Durable;
        return appended.Events[events.Count - 1].Seq;
    }

    private async Task RunAsync(bool resume, CancellationToken cancellationToken)
    {
        // Return to the caller first: the loop runs in later turns of this activation.
        await Task.Yield();
        var id = log.State.Id;
        RunState? run = null;
        // Every log line of the loop (ours, the model client's, the tools') carries the conversation and the run.
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["ConversationId"] = id, ["RunId"] = log.State.ActiveRun?.RunId });
        using var activity = AgentTelemetry.Source.StartActivity("agent.run");
        activity?.SetTag("conversation.id", id);
        activity?.SetTag("run.id", log.State.ActiveRun?.RunId);
        activity?.SetTag("run.resumed", resume);
        AgentTelemetry.ActiveRuns.Add(1);
        try
        {
            if (resume && log.State.ActiveRun is { } resumed)
            {
                await ResumeAsync(resumed);
            }

            while (true)
            {
                try
                {
                    while ((run = log.State.ActiveRun) is not null && !run.IsWaiting)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        await StepAsync(run, cancellationToken);
                    }

                    break;
                }
                catch (Exception ex)
                {
                    if (!await EndAsync(ex, run, cancellationToken))
                    {
                        break;
                    }

                    // The run was closed; a queued message may have started the next one, which the loop takes up.
                }
            }
        }
        finally
        {
            AgentTelemetry.ActiveRuns.Add(-1);
            activity?.SetTag("run.status", log.State.ActiveRun is null ? "ended" : log.State.Status.ToString().ToLowerInvariant());
            onStopped();
        }
    }

    /// <summary>One step of the run: a sub-agent call, a tool call, or a model call, whichever is next.</summary>
    private async Task StepAsync(RunState run, CancellationToken cancellationToken)
    {
        if (await budget.ExceededAsync(run, log.State.Owner) is { } exceeded)
        {
            // Checked between steps, so the model call that spent it is recorded and no tool is cut off mid-run; the
            // calls it asked for are not run, as a cancel settles them.
            await CloseRunAsync(run, new RunFailed(exceeded, run.Usage), InterruptReasons.Cancelled, exceeded);
            return;
        }

        if (run.PendingCalls.Count > 0 && SubagentRunner.Handles(run.PendingCalls[0]))
        {
            await subagents.RunAsync(run, run.PendingCalls[0], cancellationToken);
        }
        else if (run.PendingCalls.Count > 0)
        {
            await log.AppendAsync(run.RunId, await tools.SettleAsync(run.PendingCalls[0], cancellationToken));
        }
        else if (run.ModelSteps >= options.MaxSteps)
        {
            var error = new ErrorInfo("max_steps", $"The run reached its limit of {options.MaxSteps} model steps.");
            await log.AppendAsync(run.RunId, new RunFailed(error, run.Usage));
        }
        else
        {
            using var step = new CancellationTokenSource();
            _step = step;
            try
            {
                await model.RunAsync(run, cancellationToken, step.Token);
            }
            finally
            {
                _step = null;
            }
        }
    }

    /// <summary>
    /// What an error that stopped the loop means for the run: nothing, its end, or only a log line. True when it
    /// closed the run, and the loop may go on with a run that a queued message started.
    /// </summary>
    private async Task<bool> EndAsync(Exception ex, RunState? run, CancellationToken cancellationToken)
    {
        var id = log.State.Id;
        try
        {
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                // Cancelled by the user (CancelRunAsync closes the run) or by deactivation (the next activation resumes).
                return false;
            }

            if (ex is LogFullException && !log.IsBroken && log.State.ActiveRun is { } full)
            {
                // The log has room for closing the run and no more: end it rather than let it grow.
                LogLogFull(id, full.RunId, log.MaxEvents);
                var error = new ErrorInfo("log_full", $"The conversation reached its limit of {log.MaxEvents} events.");
                await CloseRunAsync(full, new RunFailed(error, full.Usage), InterruptReasons.Cancelled, error);
                return true;
            }

            if (!log.IsBroken && run is not null && log.State.ActiveRun == run)
            {
                LogRunFailed(ex, id, run.RunId);
                var error = ex is ModelCallException failure
                    ? new ErrorInfo(failure.Code, failure.Message)
                    : new ErrorInfo("internal_error", "The run failed on an unexpected error; see the service log.");
                await CloseRunAsync(run, new RunFailed(error, run.Usage), InterruptReasons.ModelError, error);
                return true;
            }

            LogLoopStopped(ex, id);
        }
        catch (Exception closing)
        {
            // The run could not be closed (the log broke meanwhile): it stays open, and the next activation resumes it.
            LogLoopStopped(closing, id);
        }

        return false;
    }

    private async Task ResumeAsync(RunState run)
    {
        var events = new List<ConversationEvent>();
        if (run.OpenMessage is { } open)
        {
            events.Add(new MessageInterrupted(open.MessageId, InterruptReasons.Restart));
        }

        if (run.PendingCalls.FirstOrDefault() is { } call && tools.MustNotRerun(call))
        {
            events.Add(new ToolResultReturned(call.CallId, call.Name, null,
                new ErrorInfo("interrupted", "The service restarted while this tool was running; it was not run again, so its effect is unknown.")));
        }

        events.Add(new RunResumed(InterruptReasons.Restart));
        LogResuming(log.State.Id, run.RunId);
        await log.AppendAsync(run.RunId, [.. events]);
    }

    /// <summary>Closes what the run left open (its sub-agents cancelled), then appends its terminal event.</summary>
    private async Task CloseRunAsync(RunState run, ConversationEvent terminal, string interruptReason, ErrorInfo openCallError)
    {
        await subagents.CancelChildrenAsync(run);
        var events = new List<ConversationEvent>();
        if (run.OpenMessage is { } open)
        {
            events.Add(new MessageInterrupted(open.MessageId, interruptReason));
        }

        events.AddRange(run.PendingCalls.Select(c => new ToolResultReturned(c.CallId, c.Name, null, openCallError)));
        events.Add(terminal);
        await log.AppendAsync(run.RunId, [.. events]);
    }
}
