using Agents.Events;
using Agents.Grains.Agent;
using Agents.Grains.Diagnostics;
using Agents.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Orleans.Concurrency;
using Orleans.Streams;

namespace Agents.Grains.Conversations;

/// <summary>
/// A conversation: its <see cref="IConversationGrain"/> surface, its lifecycle, and what keeps a run alive (a
/// keep-alive timer while the loop has work, a reminder that brings the run back after its silo died).
/// <para>
/// Reentrant so that sends, answers, cancels and reads interleave with a running loop. The log
/// (<see cref="ConversationLog"/>, where "durable before visible" is enforced) and the loop (<see cref="AgentLoop"/>)
/// are plain objects of this activation: they run in its turns, so every change of state is single-threaded and seqs
/// stay gapless without locks.
/// </para>
/// </summary>
[Reentrant]
internal sealed partial class ConversationGrain(
    IEventStore store,
    EventLogWriter writer,
    Kernel kernel,
    IOptions<AgentOptions> agentOptions,
    IOptions<LlmOptions> llmOptions,
    TimeProvider time,
    IEnumerable<IStreamPublishListener> publishListeners,
    ILogger<ConversationGrain> logger) : Grain, IConversationGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    private readonly AgentOptions _options = agentOptions.Value;
    private ConversationLifecycle _lifecycle = ConversationLifecycle.Absent;
    private ConversationLog _log = null!;
    private AgentLoop _loop = null!;
    private SubagentRunner _subagents = null!;
    private TokenBudget _budget = null!;
    private IGrainTimer? _keepAlive;
    private IGrainReminder? _reminder;

    private string Id => this.GetPrimaryKeyString();

    private ConversationState State => _log.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stream = this.GetStreamProvider(AgentNames.StreamProvider)
            .GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, Id));
        var publisher = new ConversationPublisher(Id, stream, [.. publishListeners], time, logger);
        _log = new ConversationLog(Id, store, writer, publisher.PublishAsync, _options.MaxEventsPerConversation, _options.SnapshotEvery, time, OnBroken, logger);
        var tools = new ToolRunner(Id, kernel, _options, time, logger);
        var model = new ModelStep(_log, kernel, tools, _options, llmOptions.Value, time, logger);
        _subagents = new SubagentRunner(_log, GrainFactory, _options, time, logger);
        _budget = new TokenBudget(store, _options, time);
        _loop = new AgentLoop(_log, model, tools, _subagents, _budget, _options, OnLoopStopped, logger);

        if (await _log.LoadAsync(cancellationToken))
        {
            _lifecycle = ConversationLifecycle.Active;
            // A run without its loop: the activation that ran it is gone (a crash, a restart, a failover).
            ResumeIfStalled();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        LogDeactivating(Id, reason.ReasonCode);
        _loop.Stop();
        // Let what was appended become durable, so the next activation reads it rather than racing it.
        await Task.WhenAny(Task.WhenAll(_loop.Completion, _log.WhenPublished()), Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));
        _keepAlive?.Dispose();
    }

    public async Task<ConversationInfo> CreateAsync(string userId, CreateConversation command, CancellationToken cancellationToken = default)
    {
        _lifecycle.RequireAbsent(Id, userId);
        var title = ConversationRules.RequireCreatable(command, _options.MaxMessageChars);
        if (command.Text is not null)
        {
            await _budget.RequireDayLeftAsync(userId);
            await RunAdmission.RequireSlotAsync(store, userId, Id, _options.MaxRunningConversationsPerUser);
            // Checked again: other calls ran while the store was asked.
            _lifecycle.RequireAbsent(Id, userId);
        }

        _lifecycle = ConversationLifecycle.Active;
        _log.Begin(userId, title);
        if (command.Text is null)
        {
            try
            {
                await _log.SaveAsync();
            }
            catch
            {
                // Not stored, so it does not exist.
                _lifecycle = ConversationLifecycle.Absent;
                throw;
            }
        }
        else
        {
            await StartRunAsync(command.Text, command.ClientMessageId);
        }

        return _log.Info;
    }

    public async Task<long> SendMessageAsync(string userId, SendMessage command, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        ConversationRules.RequireText(command.Text, _options.MaxMessageChars);
        ConversationRules.RequireClientMessageId(command.ClientMessageId);
        var mode = ConversationRules.RequireMode(command.Mode);
        if (ConversationRules.FirstSentWith(State, command) is null)
        {
            // A new message: is the user's day spent, and, if it would start a run, is the user within the cap? Asked
            // before anything changes; what follows runs in one turn, so the state seen below is the one it lands in.
            await _budget.RequireDayLeftAsync(userId);
            if (State.ActiveRun is null)
            {
                await RunAdmission.RequireSlotAsync(store, userId, Id, _options.MaxRunningConversationsPerUser);
            }

            RequireOwner(userId);
        }

        if (ConversationRules.FirstSentWith(State, command) is { } first)
        {
            // Answered as of the log: the first send's event is durable before its seq is told again.
            await _log.InFlight;
            return first;
        }

        if (State.ActiveRun is { } run)
        {
            if (mode == MessageModes.Reject)
            {
                throw ConversationException.Conflict($"a run is {State.Status.ToString().ToLowerInvariant()}; wait for it to end, or send with another mode");
            }

            var queued = mode == MessageModes.Queue;
            var message = new UserMessageSent(Ids.NewMessageId(), command.Text, command.ClientMessageId, queued ? true : null);
            ConversationRules.RequireRoom(State, [message], _log.MaxEvents);
            if (mode == MessageModes.Interrupt)
            {
                var seq = await _loop.InterruptAsync(run, message);
                StartLoop(resume: false);
                return seq;
            }

            // Steered: recorded now, the loop hands it to the model at its next step. Queued: it belongs to no run
            // until the log starts one for it.
            var appended = await _log.AppendAsync(queued ? null : run.RunId, message);
            return appended[0].Seq;
        }

        return await StartRunAsync(command.Text, command.ClientMessageId);
    }

    public async Task<long> RespondAsync(string userId, Respond command, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        ConversationRules.RequireAnswerable(State, command, _options.MaxMessageChars);
        var answer = new InputReceived(command.RequestId, command.Approved, command.Text);
        ConversationRules.RequireRoom(State, [answer], _log.MaxEvents);
        var appended = await _log.AppendAsync(State.ActiveRun!.RunId, answer);
        StartLoop(resume: false);
        return appended[0].Seq;
    }

    public async Task<long?> FindAnswerAsync(string userId, Respond command, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        var first = ConversationRules.FirstAnswer(State, command);
        // Told only once durable, like the answer itself.
        await _log.InFlight;
        return first;
    }

    public async Task CancelAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        await _loop.CancelRunAsync();
        // Queued messages outlive the cancel: the next one started its run with the cancel's batch.
        StartLoop(resume: false);
        _ = TellParentAsync();
    }

    public async Task DeleteAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        // From here on every call of a user is not_found, so nothing starts a run or appends behind the delete.
        _lifecycle = ConversationLifecycle.Deleting;
        try
        {
            await _loop.CancelRunAsync();
            await _subagents.DeleteChildrenAsync([.. (await store.ListChildrenAsync(Id, cancellationToken)).Select(c => c.Id)]);
            _lifecycle = ConversationLifecycle.Deleted;
            await _log.DeleteAsync(cancellationToken);
        }
        catch when (_lifecycle is ConversationLifecycle.Deleting or ConversationLifecycle.Deleted)
        {
            // Still stored: it exists, and a retry deletes it.
            _lifecycle = ConversationLifecycle.Active;
            throw;
        }

        LogDeleted(Id);
        _keepAlive?.Dispose();
        _keepAlive = null;
        // No run, no conversation: the durable wake-up goes too, so no tick comes back for it.
        await KeepReminderAsync();
        DeactivateOnIdle();
    }

    public async Task<EventPage> GetEventsAsync(string userId, long afterSeq, int limit, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        ContractLimits.RequireEventsPage(afterSeq, limit);

        return await _log.ReadPageAsync(afterSeq, limit, cancellationToken);
    }

    public Task<ConversationInfo> GetInfoAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        return Task.FromResult(_log.Info);
    }

    private async Task<long> StartRunAsync(string text, string? clientMessageId)
    {
        ConversationEvent[] start = [new UserMessageSent(Ids.NewMessageId(), text, clientMessageId), new RunStarted()];
        ConversationRules.RequireRoom(State, start, _log.MaxEvents);
        AgentTelemetry.RunsStarted.Add(1);
        var appended = await _log.AppendAsync(Ids.NewRunId(), start);
        StartLoop(resume: false);
        return appended[0].Seq;
    }

    /// <summary>A write failed for good: stop, and let the next activation rebuild from what is stored.</summary>
    private void OnBroken(Exception ex)
    {
        _lifecycle = ConversationLifecycle.Broken;
        _loop.Stop();
        DeactivateOnIdle();
    }

    private void RequireOwner(string userId) => _lifecycle.RequireOwner(Id, State.Owner, userId);
}
