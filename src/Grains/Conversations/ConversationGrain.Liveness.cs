using Orleans.Runtime;

namespace Agents.Grains.Conversations;

/// <summary>
/// What keeps a run going: the loop started when a run needs it, and a keep-alive timer while it has work. After its
/// silo dies, the silo's ResumeUnfinishedRuns wakes it on a survivor; where configured, a durable reminder does too.
/// </summary>
internal sealed partial class ConversationGrain
{
    public Task WakeAsync(CancellationToken cancellationToken = default)
    {
        ResumeIfStalled();
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // A tick of a conversation that was running when its silo died is what activated it here; the activation
        // resumed the run. Later ticks only check on the loop.
        ResumeIfStalled();
        return KeepReminderAsync(ticked: true);
    }

    /// <summary>Takes up a run that needs its loop and has none (a restart, an error it could not record).</summary>
    private void ResumeIfStalled()
    {
        if (State.ActiveRun is { IsWaiting: false } && !_loop.IsRunning)
        {
            StartLoop(resume: true);
        }
    }

    private void StartLoop(bool resume)
    {
        if (_lifecycle == ConversationLifecycle.Active && _loop.Start(resume))
        {
            _keepAlive ??= this.RegisterGrainTimer(
                OnKeepAliveAsync,
                new GrainTimerCreationOptions(_options.KeepAlivePeriod, _options.KeepAlivePeriod) { KeepAlive = true, Interleave = true });
            _ = KeepReminderAsync();
        }
    }

    private void OnLoopStopped()
    {
        if (State.ActiveRun is null or { IsWaiting: true })
        {
            _ = KeepReminderAsync();
        }

        if (State.ActiveRun is null)
        {
            _ = TellParentAsync();
        }
    }

    private Task OnKeepAliveAsync(CancellationToken cancellationToken)
    {
        if (State.ActiveRun is null or { IsWaiting: true })
        {
            // Idle, or waiting for the user for as long as they like: let the activation be collected like any
            // other; the answer reactivates it and the log has everything it needs.
            _keepAlive?.Dispose();
            _keepAlive = null;
        }
        else
        {
            ResumeIfStalled();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Holds the durable wake-up while a run needs its loop, where reminders are configured, and drops it when it does
    /// not; a tick of one that is not configured (left from an earlier configuration) drops it too.
    /// </summary>
    private async Task KeepReminderAsync(bool ticked = false)
    {
        var period = _options.ResumeReminderPeriod;
        if (period is null && !ticked && _reminder is null)
        {
            return;
        }

        try
        {
            var needed = period is not null && _lifecycle == ConversationLifecycle.Active && State.ActiveRun is { IsWaiting: false };
            if (needed && _reminder is null)
            {
                _reminder = await this.RegisterOrUpdateReminder(ResumeReminder, period!.Value, period.Value);
            }
            else if (!needed)
            {
                var reminder = _reminder ?? await this.GetReminder(ResumeReminder);
                _reminder = null;
                if (reminder is not null)
                {
                    await this.UnregisterReminder(reminder);
                }
            }
        }
        catch (Exception ex)
        {
            // The next start of the loop or tick tries again; the keep-alive timer holds the activation meanwhile.
            LogReminderFailed(ex, Id);
        }
    }
}
