using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Agents.Events;
using Agents.Grains.Agent;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Diagnostics;
using Agents.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Orleans.Concurrency;
using Orleans.Streams;

namespace Agents.Grains.Conversations;

/// <summary>
/// A conversation: the single writer of its log and the owner of its agent loop.
/// <para>
/// Reentrant so that sends, answers, cancels and reads interleave with a running loop; every change of state
/// happens in a turn of the grain, so seqs stay gapless without locks. An event is applied to the state when
/// appended, and published or returned only once it is durable.
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

    private const int ReadPageSize = 1_000;
    private static readonly PromptExecutionSettings ModelSettings = new()
    {
        FunctionChoiceBehavior = FunctionChoiceBehavior.Auto(autoInvoke: false),
    };

    private readonly AgentOptions _options = agentOptions.Value;
    private readonly LlmOptions _llm = llmOptions.Value;
    private readonly IStreamPublishListener[] _publishListeners = [.. publishListeners];
    private readonly Queue<(Task Durable, EventEnvelope[] Events, ConversationInfo Info)> _unpublished = new();
    private ConversationState _state = new();
    private bool _exists;
    private IAsyncStream<EventEnvelope[]>? _stream;

    // The conversation as of its last durable event: what callers are told (status, last seq), never ahead of the log.
    private ConversationInfo _durable = null!;
    private long _snapshotSeq;
    private Task _lastAppend = Task.CompletedTask;
    private Task _publisher = Task.CompletedTask;
    private Task _loop = Task.CompletedTask;
    private CancellationTokenSource? _loopCancellation;
    private IGrainTimer? _keepAlive;
    private IGrainReminder? _reminder;
    private Exception? _broken;
    private bool _deleting;
    private bool _deleted;
    private bool _logFull;

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _stream = this.GetStreamProvider(AgentNames.StreamProvider)
            .GetStream<EventEnvelope[]>(StreamId.Create(AgentNames.ConversationStreamNamespace, Id));
        _state.Id = Id;
        _durable = CurrentInfo();

        var row = await store.GetConversationAsync(Id, cancellationToken);
        if (row is null)
        {
            return;
        }

        _exists = true;
        _state = await LoadStateAsync(row, cancellationToken);
        _durable = CurrentInfo();
        if (_state.ActiveRun is { IsWaiting: false })
        {
            // The activation that ran this run is gone (a crash, a restart, a failover): pick it up.
            StartLoop(resume: true);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        LogDeactivating(Id, reason.ReasonCode);
        _loopCancellation?.Cancel();
        // Let what was appended become durable, so the next activation reads it rather than racing it.
        await Task.WhenAny(Task.WhenAll(_loop, _publisher), Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));
        _keepAlive?.Dispose();
    }

    public async Task<ConversationInfo> CreateAsync(string userId, CreateConversation command, CancellationToken cancellationToken = default)
    {
        ThrowIfBroken();
        RequireUser(userId);
        if (_exists)
        {
            throw ConversationException.Conflict($"conversation {Id} already exists");
        }

        if (command.Text is not null)
        {
            ValidateText(command.Text);
        }

        ValidateClientMessageId(command.ClientMessageId);
        var title = command.Title is null ? null : AsTitle(command.Title);
        if (title is { Length: > 200 })
        {
            throw ConversationException.TooLarge("title is longer than 200 characters");
        }

        if (command.Text is not null)
        {
            await RequireRunSlotAsync(userId);
            // Checked again: other calls ran while the store was asked.
            ThrowIfBroken();
            if (_exists)
            {
                throw ConversationException.Conflict($"conversation {Id} already exists");
            }
        }

        var now = Now();
        _exists = true;
        _state.Owner = userId;
        _state.Title = !string.IsNullOrEmpty(title) ? title : TitleFrom(command.Text);
        _state.CreatedAt = now;
        _state.UpdatedAt = now;

        if (command.Text is null)
        {
            try
            {
                await writer.AppendAsync(new AppendBatch(Id, [], ToRecord()));
            }
            catch
            {
                // Not stored, so it does not exist.
                _exists = false;
                throw;
            }
        }
        else
        {
            await StartRunAsync(command.Text, command.ClientMessageId);
        }

        return Info();
    }

    public async Task<long> SendMessageAsync(string userId, SendMessage command, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        ValidateText(command.Text);
        ValidateClientMessageId(command.ClientMessageId);
        var repeated = command.ClientMessageId is { } id && _state.ClientMessages.ContainsKey(id);
        if (_state.ActiveRun is null && !repeated)
        {
            // This message would start a run: within the user's cap? Asked before anything changes; what follows
            // runs in one turn, so the state seen below is the one the message lands in.
            await RequireRunSlotAsync(userId);
            RequireOwner(userId);
        }

        if (command.ClientMessageId is { } clientId && _state.ClientMessages.TryGetValue(clientId, out var first))
        {
            if (first.Text != command.Text)
            {
                throw ConversationException.Conflict($"clientMessageId {clientId} was already used with another text");
            }

            await _lastAppend;
            return first.Seq;
        }

        if (_state.ActiveRun is { } run)
        {
            // Recorded now; the loop hands it to the model at its next step.
            var message = new UserMessageSent(Ids.NewMessageId(), command.Text, command.ClientMessageId);
            RequireRoom(message);
            var appended = await AppendAsync(run.RunId, message);
            return appended[0].Seq;
        }

        return await StartRunAsync(command.Text, command.ClientMessageId);
    }

    public async Task<long> RespondAsync(string userId, Respond command, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        if (!Ids.IsValid(command.RequestId))
        {
            throw ConversationException.InvalidArgument("requestId must be 1-64 characters of [A-Za-z0-9_-]");
        }

        if (_state.ClosedRequests.Contains(command.RequestId))
        {
            throw ConversationException.Conflict($"request {command.RequestId} was already answered or its run has ended");
        }

        var run = _state.ActiveRun;
        var call = run?.PendingCalls.Find(c => c.RequestId == command.RequestId)
            ?? throw ConversationException.NotFound($"no open request {command.RequestId} in conversation {Id}");
        if (call.RequestKind == InputKinds.Approval && command.Approved is null)
        {
            throw ConversationException.InvalidArgument("an approval needs approved: true or false");
        }

        if (call.RequestKind == InputKinds.Question && string.IsNullOrWhiteSpace(command.Text))
        {
            throw ConversationException.InvalidArgument("a question needs a text answer");
        }

        if (command.Text is { Length: var length } && length > _options.MaxMessageChars)
        {
            // An approval's remark may be empty; only its length is limited.
            throw ConversationException.TooLarge($"text has {length} characters; the limit is {_options.MaxMessageChars}");
        }

        var answer = new InputReceived(command.RequestId, command.Approved, command.Text);
        RequireRoom(answer);
        var appended = await AppendAsync(run!.RunId, answer);
        StartLoop(resume: false);
        return appended[0].Seq;
    }

    public async Task CancelAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        await CancelRunAsync();
    }

    public async Task DeleteAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        // From here on every call of a user is not_found, so nothing starts a run or appends behind the delete.
        _deleting = true;
        try
        {
            await CancelRunAsync();
            // No append from here on. The writer commits a conversation's appends in the order they were queued, so
            // once the last one is durable nothing of this conversation is in flight to the store.
            _deleted = true;
            await _lastAppend;
            await store.DeleteConversationAsync(Id, cancellationToken);
        }
        catch
        {
            // Still stored: it exists, and a retry deletes it.
            _deleting = false;
            _deleted = false;
            throw;
        }

        _exists = false;
        LogDeleted(Id);
        _keepAlive?.Dispose();
        _keepAlive = null;
        // No run, no conversation: the durable wake-up goes too, so no tick comes back for it.
        await KeepReminderAsync();
        // Watchers get what was published before, then the end.
        await _publisher;
        await PublishWithRetryAsync([]);
        _state = new ConversationState { Id = Id };
        DeactivateOnIdle();
    }

    /// <summary>Cancels the active run, if any: the loop stops, what is open is closed, then <c>run.cancelled</c>.</summary>
    private async Task CancelRunAsync()
    {
        if (_state.ActiveRun is not { } run)
        {
            return;
        }

        _loopCancellation?.Cancel();
        await _loop;
        // The loop may have ended the run on its own meanwhile; close it only if it is still the same one.
        if (_state.ActiveRun?.RunId == run.RunId)
        {
            await CloseRunAsync(run, new RunCancelled(), InterruptReasons.Cancelled, new ErrorInfo("cancelled", "The run was cancelled."));
        }
    }

    public async Task<EventPage> GetEventsAsync(string userId, long afterSeq, int limit, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        if (afterSeq < 0)
        {
            throw ConversationException.InvalidArgument("afterSeq must not be negative");
        }

        if (limit is < 1 or > ReadPageSize)
        {
            throw ConversationException.InvalidArgument($"limit must be between 1 and {ReadPageSize}");
        }

        var events = await store.ReadEventsAsync(Id, afterSeq, limit, cancellationToken);
        var lastSeq = Math.Max(_durable.LastSeq, events.Count > 0 ? events[^1].Seq : 0);
        return new EventPage(events, lastSeq);
    }

    public Task<ConversationInfo> GetInfoAsync(string userId, CancellationToken cancellationToken = default)
    {
        RequireOwner(userId);
        return Task.FromResult(Info());
    }

    public Task WakeAsync(CancellationToken cancellationToken = default)
    {
        if (_exists && _state.ActiveRun is { IsWaiting: false } && _loop.IsCompleted)
        {
            StartLoop(resume: true);
        }

        return Task.CompletedTask;
    }

    private async Task<long> StartRunAsync(string text, string? clientMessageId)
    {
        var runId = Ids.NewRunId();
        ConversationEvent[] start = [new UserMessageSent(Ids.NewMessageId(), text, clientMessageId), new RunStarted()];
        RequireRoom(start);
        AgentTelemetry.RunsStarted.Add(1);
        var appended = await AppendAsync(runId, start);
        StartLoop(resume: false);
        return appended[0].Seq;
    }

    // ---- The agent loop ------------------------------------------------------------------------------------

    private void StartLoop(bool resume)
    {
        if (!_loop.IsCompleted || _broken is not null || _state.ActiveRun is null)
        {
            return;
        }

        _loopCancellation?.Dispose();
        _loopCancellation = new CancellationTokenSource();
        _logFull = false;
        StartKeepAlive();
        _loop = RunLoopAsync(resume, _loopCancellation.Token);
        _ = KeepReminderAsync();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // A tick of a conversation that was running when its silo died is what activated it here; the
        // activation resumed the run. Later ticks only check on the loop.
        if (_state.ActiveRun is { IsWaiting: false } && _loop.IsCompleted && _broken is null)
        {
            StartLoop(resume: true);
        }

        return KeepReminderAsync();
    }

    /// <summary>Holds the durable wake-up while a run needs its loop, and drops it when it does not.</summary>
    private async Task KeepReminderAsync()
    {
        if (_options.ResumeReminderPeriod is not { } period)
        {
            return;
        }

        try
        {
            var needed = _exists && _state.ActiveRun is { IsWaiting: false };
            if (needed && _reminder is null)
            {
                _reminder = await this.RegisterOrUpdateReminder(ResumeReminder, period, period);
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

    private void StartKeepAlive() =>
        _keepAlive ??= this.RegisterGrainTimer(
            OnKeepAliveAsync,
            new GrainTimerCreationOptions(_options.KeepAlivePeriod, _options.KeepAlivePeriod) { KeepAlive = true, Interleave = true });

    private Task OnKeepAliveAsync(CancellationToken cancellationToken)
    {
        if (_state.ActiveRun is null or { IsWaiting: true })
        {
            // Idle, or waiting for the user for as long as they like: let the activation be collected like any
            // other; the answer reactivates it and the log has everything it needs.
            _keepAlive?.Dispose();
            _keepAlive = null;
        }
        else if (_state.ActiveRun is { IsWaiting: false } && _loop.IsCompleted && _broken is null)
        {
            // A run without a loop (it stopped on an error it could not record): take it up again.
            StartLoop(resume: true);
        }

        return Task.CompletedTask;
    }

    private async Task RunLoopAsync(bool resume, CancellationToken cancellationToken)
    {
        // Return to the caller first: the loop runs in later turns of this activation.
        await Task.Yield();
        RunState? run = null;
        // Every log line of the loop (ours, the model client's, the tools') carries the conversation and the run.
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["ConversationId"] = Id, ["RunId"] = _state.ActiveRun?.RunId });
        using var activity = AgentTelemetry.Source.StartActivity("agent.run");
        activity?.SetTag("conversation.id", Id);
        activity?.SetTag("run.id", _state.ActiveRun?.RunId);
        activity?.SetTag("run.resumed", resume);
        AgentTelemetry.ActiveRuns.Add(1);
        try
        {
            if (resume && _state.ActiveRun is { } resumed)
            {
                await ResumeAsync(resumed);
            }

            while ((run = _state.ActiveRun) is not null && !run.IsWaiting)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (run.PendingCalls.Count > 0)
                {
                    await SettleNextCallAsync(run, cancellationToken);
                }
                else if (run.ModelSteps >= _options.MaxSteps)
                {
                    await AppendAsync(run.RunId, new RunFailed(new ErrorInfo("max_steps", $"The run reached its limit of {_options.MaxSteps} model steps.")));
                }
                else
                {
                    await ModelStepAsync(run, cancellationToken);
                }
            }
        }
        catch (Exception) when (_logFull && _broken is null && _state.ActiveRun is { } full)
        {
            // The log has room for closing the run and no more: end it rather than let it grow.
            LogLogFull(Id, full.RunId, _options.MaxEventsPerConversation);
            var error = new ErrorInfo(LogFullCode, $"The conversation reached its limit of {_options.MaxEventsPerConversation} events.");
            await CloseRunAsync(full, new RunFailed(error), InterruptReasons.Cancelled, error);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled by the user (CancelAsync closes the run) or by deactivation (the next activation resumes).
        }
        catch (Exception ex) when (_broken is null && run is not null && _state.ActiveRun == run)
        {
            LogRunFailed(ex, Id, run.RunId);
            var error = ex is ModelCallException model
                ? new ErrorInfo(model.Code, model.Message)
                : new ErrorInfo("internal_error", "The run failed on an unexpected error; see the service log.");
            await CloseRunAsync(run, new RunFailed(error), InterruptReasons.ModelError, error);
        }
        catch (Exception ex)
        {
            LogLoopStopped(ex, Id);
        }
        finally
        {
            AgentTelemetry.ActiveRuns.Add(-1);
            activity?.SetTag("run.status", _state.ActiveRun is null ? "ended" : _state.Status.ToString().ToLowerInvariant());
            if (_state.ActiveRun is null or { IsWaiting: true })
            {
                _ = KeepReminderAsync();
            }
        }
    }

    private async Task ResumeAsync(RunState run)
    {
        var events = new List<ConversationEvent>();
        if (run.OpenMessage is { } open)
        {
            events.Add(new MessageInterrupted(open.MessageId, InterruptReasons.Restart));
        }

        if (run.PendingCalls.FirstOrDefault() is { } call && MayHaveStarted(call) && !IsIdempotent(call.Name))
        {
            events.Add(new ToolResultReturned(call.CallId, call.Name, null,
                new ErrorInfo("interrupted", "The service restarted while this tool was running; it was not run again, so its effect is unknown.")));
        }

        events.Add(new RunResumed(InterruptReasons.Restart));
        LogResuming(Id, run.RunId);
        await AppendAsync(run.RunId, [.. events]);
    }

    private async Task ModelStepAsync(RunState run, CancellationToken cancellationToken)
    {
        var history = ChatHistoryBuilder.Build(_state, _options.SystemPrompt);
        ModelResponse response;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                response = await StreamResponseAsync(run, history, cancellationToken);
                break;
            }
            catch (ModelCallException failure) when (failure.Transient && attempt < _llm.MaxAttempts)
            {
                var delay = failure.RetryAfter is { } asked ? Min(asked, _llm.MaxBackoff) : Backoff(attempt);
                LogModelRetry(failure.InnerException ?? failure, Id, attempt, delay);
                await Task.Delay(delay, time, cancellationToken);
            }
        }

        if (response.Usage is { } usage)
        {
            run.Usage = run.Usage is null ? usage : run.Usage + usage;
        }

        var events = new List<ConversationEvent>();
        if (response.Text.Length > 0 || response.Calls.Count == 0)
        {
            events.Add(new AssistantMessageCompleted(response.MessageId, response.Text));
        }

        var usedIds = new HashSet<string>(_state.CallIds);
        foreach (var (modelCallId, name, arguments) in response.Calls.Build())
        {
            var callId = modelCallId is not null && Ids.IsValid(modelCallId) && usedIds.Add(modelCallId) ? modelCallId : Ids.NewCallId();
            usedIds.Add(callId);
            var (json, problem) = ValidateArguments(arguments);
            events.Add(new ToolCalled(callId, name, json));
            problem ??= FindTool(name) is null ? new ErrorInfo("unknown_tool", $"There is no tool named '{name}'.") : null;
            if (problem is not null)
            {
                // The model gets the error as the call's result and carries on.
                events.Add(new ToolResultReturned(callId, name, null, problem));
            }
        }

        // A message that arrived while the model was answering still needs an answer: one more step.
        if (response.Calls.Count == 0 && run.Deferred.Count == 0)
        {
            events.Add(new RunCompleted(run.Usage));
        }

        await AppendAsync(run.RunId, [.. events]);
    }

    /// <summary>
    /// One attempt at a model call, streamed into deltas as it comes. A call that fails after some of its text
    /// was stored ends that message with <c>message.interrupted</c>; a retry streams under a new message id.
    /// </summary>
    private async Task<ModelResponse> StreamResponseAsync(RunState run, ChatHistory history, CancellationToken cancellationToken)
    {
        var chat = kernel.GetRequiredService<IChatCompletionService>();
        var messageId = Ids.NewMessageId();
        var text = new StringBuilder();
        var calls = new ToolCallAccumulator();
        var deltas = new DeltaBuffer(this, run.RunId, messageId, _options.DeltaFlushWindow);
        TokenUsage? usage = null;
        var started = time.GetTimestamp();
        var model = _llm.Provider == "Demo" ? "demo" : _llm.Model ?? "";
        using var activity = AgentTelemetry.Source.StartActivity($"chat {model}", ActivityKind.Client);
        activity?.SetTag("gen_ai.operation.name", "chat");
        activity?.SetTag("gen_ai.request.model", model);
        activity?.SetTag("conversation.id", Id);
        var firstChunk = true;
        // One timer serves both limits: before each chunk it is set to the stall timeout or what is left of the call's.
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await using var stream = chat.GetStreamingChatMessageContentsAsync(history, ModelSettings, kernel, attempt.Token)
                .GetAsyncEnumerator(attempt.Token);
            while (true)
            {
                attempt.CancelAfter(Min(_llm.StallTimeout, _llm.CallTimeout - time.GetElapsedTime(started)));
                if (!await stream.MoveNextAsync())
                {
                    break;
                }

                var chunk = stream.Current;
                if (firstChunk)
                {
                    firstChunk = false;
                    AgentTelemetry.TimeToFirstToken.Record(time.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("gen_ai.request.model", model));
                }

                if (chunk.Metadata?.TryGetValue(DemoChatCompletionService.ProgressMetadataKey, out var progress) == true && progress is string line)
                {
                    deltas.Flush();
                    Append(run.RunId, new ProgressReported(line));
                }

                if (!string.IsNullOrEmpty(chunk.Content))
                {
                    text.Append(chunk.Content);
                    deltas.Add(chunk.Content);
                }

                calls.Add(chunk.Items);
                usage = UsageReader.Read(chunk.Metadata) ?? usage;
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            deltas.Discard();
            var failure = ex is OperationCanceledException
                ? time.GetElapsedTime(started) >= _llm.CallTimeout
                    ? new ModelCallException(ModelCallException.Timeout, $"The model did not finish within {_llm.CallTimeout}.", true, null, ex)
                    : new ModelCallException(ModelCallException.Timeout, $"The model sent nothing for {_llm.StallTimeout}.", true, null, ex)
                : ModelCallException.Classify(ex);
            activity?.SetStatus(ActivityStatusCode.Error, failure.Code);
            activity?.SetTag("error.type", failure.Code);
            if (run.OpenMessage?.MessageId == messageId)
            {
                await AppendAsync(run.RunId, new MessageInterrupted(messageId, InterruptReasons.ModelError));
            }

            throw failure;
        }
        catch
        {
            deltas.Discard();
            throw;
        }

        deltas.Flush();
        var modelTag = new KeyValuePair<string, object?>("gen_ai.request.model", model);
        AgentTelemetry.ModelDuration.Record(time.GetElapsedTime(started).TotalSeconds, modelTag);
        if (usage is not null)
        {
            activity?.SetTag("gen_ai.usage.input_tokens", usage.InputTokens);
            activity?.SetTag("gen_ai.usage.output_tokens", usage.OutputTokens);
            AgentTelemetry.Tokens.Add(usage.InputTokens, modelTag, new("gen_ai.token.type", "input"));
            AgentTelemetry.Tokens.Add(usage.OutputTokens, modelTag, new("gen_ai.token.type", "output"));
        }

        return new ModelResponse(messageId, text.ToString(), calls, usage);
    }

    private TimeSpan Backoff(int attempt)
    {
        // Exponential with jitter, so conversations that failed together do not retry together.
        var exponential = _llm.InitialBackoff * Math.Pow(2, attempt - 1);
        return Min(exponential, _llm.MaxBackoff) * (0.5 + Random.Shared.NextDouble() / 2);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Records a tool call's duration however it ends.</summary>
    private readonly struct ToolTimer(TimeProvider time, long started, string name) : IDisposable
    {
        public void Dispose() =>
            AgentTelemetry.ToolDuration.Record(time.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("gen_ai.tool.name", name));
    }

    private sealed record ModelResponse(string MessageId, string Text, ToolCallAccumulator Calls, TokenUsage? Usage);

    private async Task SettleNextCallAsync(RunState run, CancellationToken cancellationToken)
    {
        var call = run.PendingCalls[0];
        var shortName = ToolNames.ShortName(call.Name);
        var isQuestion = shortName == UserInputPlugin.AskUser;
        if (isQuestion || RequiresApproval(shortName))
        {
            if (call.RequestId is null)
            {
                var (kind, prompt) = isQuestion
                    ? (InputKinds.Question, QuestionIn(call.Arguments))
                    : (InputKinds.Approval, $"Allow {shortName} with {call.Arguments}?");
                await AppendAsync(run.RunId, new InputRequested(Ids.NewRequestId(), kind, prompt, call.CallId, call.Name, call.Arguments));
                return;
            }

            if (!call.Answered)
            {
                return;
            }

            if (isQuestion)
            {
                await AppendAsync(run.RunId, new ToolResultReturned(call.CallId, call.Name, JsonSerializer.Serialize(call.AnswerText ?? ""), null));
                return;
            }

            if (call.Approved != true)
            {
                var remark = string.IsNullOrWhiteSpace(call.AnswerText) ? "" : $" They said: {call.AnswerText}";
                await AppendAsync(run.RunId, new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("denied", $"The user denied this call.{remark}")));
                return;
            }
        }

        var result = await InvokeToolAsync(call, cancellationToken);
        await AppendAsync(run.RunId, result);
    }

    private async Task<ToolResultReturned> InvokeToolAsync(PendingCall call, CancellationToken cancellationToken)
    {
        if (FindTool(call.Name) is not { } function)
        {
            return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("unknown_tool", $"There is no tool named '{call.Name}'."));
        }

        var arguments = ChatHistoryBuilder.ParseArguments(call.Arguments);
        arguments[ToolCall.CallIdArgument] = call.CallId;
        using var activity = AgentTelemetry.Source.StartActivity($"execute_tool {ToolNames.ShortName(call.Name)}");
        activity?.SetTag("gen_ai.operation.name", "execute_tool");
        activity?.SetTag("gen_ai.tool.name", call.Name);
        activity?.SetTag("gen_ai.tool.call.id", call.CallId);
        activity?.SetTag("conversation.id", Id);
        var started = time.GetTimestamp();
        using var timed = new ToolTimer(time, started, call.Name);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ToolTimeout);
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
            return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("timeout", $"The tool did not finish within {_options.ToolTimeout}."));
        }
        catch (Exception ex)
        {
            var cause = ex is KernelException && ex.InnerException is not null ? ex.InnerException : ex;
            LogToolFailed(cause, Id, call.Name);
            return new ToolResultReturned(call.CallId, call.Name, null, new ErrorInfo("tool_error", cause.Message));
        }
    }

    /// <summary>Closes what the run left open, then appends its terminal event.</summary>
    private async Task CloseRunAsync(RunState run, ConversationEvent terminal, string interruptReason, ErrorInfo openCallError)
    {
        var events = new List<ConversationEvent>();
        if (run.OpenMessage is { } open)
        {
            events.Add(new MessageInterrupted(open.MessageId, interruptReason));
        }

        events.AddRange(run.PendingCalls.Select(c => new ToolResultReturned(c.CallId, c.Name, null, openCallError)));
        events.Add(terminal);
        await AppendAsync(run.RunId, [.. events]);
    }

    private KernelFunction? FindTool(string name)
    {
        var (plugin, function) = ToolNames.Split(name);
        if (plugin is not null)
        {
            return kernel.Plugins.TryGetFunction(plugin, function, out var found) ? found : null;
        }

        return kernel.Plugins.SelectMany(p => p).FirstOrDefault(f => f.Name == function);
    }

    private bool RequiresApproval(string shortName) =>
        _options.ApprovalTools.Any(t => string.Equals(t, shortName, StringComparison.OrdinalIgnoreCase));

    private bool IsIdempotent(string name) =>
        FindTool(name)?.UnderlyingMethod?.IsDefined(typeof(IdempotentAttribute), inherit: false) == true;

    private bool MayHaveStarted(PendingCall call)
    {
        var shortName = ToolNames.ShortName(call.Name);
        return shortName != UserInputPlugin.AskUser && (!RequiresApproval(shortName) || call.Approved == true);
    }

    private static (string Json, ErrorInfo? Problem) ValidateArguments(string arguments)
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

    private static string QuestionIn(string arguments)
    {
        using var document = JsonDocument.Parse(arguments);
        return document.RootElement.TryGetProperty("question", out var q) && q.ValueKind == JsonValueKind.String
            ? q.GetString()!
            : "The agent needs your input.";
    }

    // ---- The log ------------------------------------------------------------------------------------------

    private async Task<EventEnvelope[]> AppendAsync(string? runId, params ConversationEvent[] events)
    {
        var envelopes = Append(runId, events);
        if (envelopes.Length == 0)
        {
            throw new LogFullException();
        }

        // As Append left it: nothing ran in between.
        var info = CurrentInfo();

        var durable = _lastAppend;
        try
        {
            await durable;
        }
        catch (Exception ex)
        {
            // Before anyone else runs: nothing may be appended on top of a write that failed.
            Break(ex);
            throw;
        }

        MarkDurable(info);
        return envelopes;
    }

    /// <summary>
    /// Gives the events their seqs and applies them now; they become durable in order and are published after.
    /// </summary>
    private EventEnvelope[] Append(string? runId, params ConversationEvent[] events)
    {
        ThrowIfBroken();
        if (!Fits(events))
        {
            // Only the loop gets here (what users send is checked before): stop it, and it ends the run.
            _logFull = true;
            _loopCancellation?.Cancel();
            if (events.All(e => e is MessageDeltaStreamed or ProgressReported))
            {
                // Streamed as it comes, by callers that do not wait: dropped; the run's end interrupts the message.
                return [];
            }

            throw new LogFullException();
        }

        var at = Now();
        var envelopes = new EventEnvelope[events.Length];
        var terminal = false;
        for (var i = 0; i < events.Length; i++)
        {
            envelopes[i] = new EventEnvelope(_state.LastSeq + 1, Id, runId, at, events[i]);
            _state.Apply(envelopes[i]);
            if (EventTypes.IsTerminal(events[i].Type))
            {
                terminal = true;
                AgentTelemetry.RunsEnded.Add(1, AgentTelemetry.Outcome(events[i].Type["run.".Length..]));
            }
        }

        AgentTelemetry.EventsAppended.Add(events.Length);

        SnapshotRecord? snapshot = null;
        if (_state.LastSeq - _snapshotSeq >= _options.SnapshotEvery)
        {
            snapshot = new SnapshotRecord(Id, _state.LastSeq, JsonSerializer.Serialize(_state, AgentJson.Options));
            _snapshotSeq = _state.LastSeq;
        }

        var transcript = terminal ? Transcripts.BuildLastRun(_state) : null;
        var durable = writer.AppendAsync(new AppendBatch(Id, envelopes, ToRecord(), snapshot, transcript));
        _lastAppend = durable;
        _unpublished.Enqueue((durable, envelopes, CurrentInfo()));
        if (_publisher.IsCompleted)
        {
            _publisher = PublishAsync();
        }

        return envelopes;
    }

    private async Task PublishAsync()
    {
        while (_unpublished.TryPeek(out var next))
        {
            try
            {
                await next.Durable;
            }
            catch (Exception ex)
            {
                Break(ex);
                return;
            }

            _unpublished.Dequeue();
            var (events, info) = (next.Events, next.Info);
            // Whatever else became durable meanwhile goes out in the same message.
            while (_unpublished.TryPeek(out var more) && more.Durable.IsCompletedSuccessfully)
            {
                _unpublished.Dequeue();
                (events, info) = ([.. events, .. more.Events], more.Info);
            }

            MarkDurable(info);
            await PublishWithRetryAsync(events);
        }
    }

    /// <summary>Publishes a durable batch; an empty one tells watchers the conversation was deleted.</summary>
    private async Task PublishWithRetryAsync(EventEnvelope[] events)
    {
        var (first, last) = events.Length > 0 ? (events[0].Seq, events[^1].Seq) : (0L, 0L);
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                foreach (var listener in _publishListeners)
                {
                    listener.Publishing(_stream!.StreamId);
                }

                await _stream!.OnNextAsync(events);
                return;
            }
            catch (Exception ex) when (attempt < 4)
            {
                LogPublishRetry(ex, Id, first, attempt);
                await Task.Delay(delay);
                delay *= 4;
            }
            catch (Exception ex)
            {
                // Stored, so not lost: watchers see the seq jump and read the gap from the store.
                LogPublishFailed(ex, Id, first, last);
                return;
            }
        }
    }

    /// <summary>
    /// A write failed for good: the state in memory is ahead of the log. Stop, and let the next activation
    /// rebuild from what is stored.
    /// </summary>
    private void Break(Exception ex)
    {
        if (_broken is not null)
        {
            return;
        }

        _broken = ex;
        _unpublished.Clear();
        LogBroken(ex, Id);
        _loopCancellation?.Cancel();
        DeactivateOnIdle();
    }

    private async Task<ConversationState> LoadStateAsync(ConversationRecord row, CancellationToken cancellationToken)
    {
        ConversationState? state = null;
        if (await store.ReadSnapshotAsync(Id, cancellationToken) is { } snapshot)
        {
            try
            {
                state = JsonSerializer.Deserialize<ConversationState>(snapshot.State, AgentJson.Options);
                _snapshotSeq = snapshot.Seq;
            }
            catch (JsonException ex)
            {
                LogSnapshotUnreadable(ex, Id);
            }
        }

        state ??= new ConversationState { Id = Id, Owner = row.Owner, Title = row.Title, CreatedAt = row.CreatedAt, UpdatedAt = row.CreatedAt };
        while (true)
        {
            var page = await store.ReadEventsAsync(Id, state.LastSeq, ReadPageSize, cancellationToken);
            foreach (var e in page)
            {
                state.Apply(e);
            }

            if (page.Count < ReadPageSize)
            {
                return state;
            }
        }
    }

    // ---- Limits -------------------------------------------------------------------------------------------

    private const string LogFullCode = "log_full";

    /// <summary>
    /// Whether the log can take <paramref name="events"/> and still close the active run within
    /// <see cref="AgentOptions.MaxEventsPerConversation"/>. An active run keeps room for its closing events (an
    /// assistant message or interruption, a result per open call, the terminal event), so an append that ends a run
    /// always fits, and the cap is never passed.
    /// </summary>
    private bool Fits(IReadOnlyCollection<ConversationEvent> events)
    {
        if (events.Any(e => EventTypes.IsTerminal(e.Type)))
        {
            return true;
        }

        // What the closing room grows by: a new run needs its own, each tool call its result.
        var growth = events.Sum(e => e switch
        {
            RunStarted => ClosingRoom(0),
            ToolCalled => 1,
            _ => 0,
        });
        var room = _state.ActiveRun is { } run ? ClosingRoom(run.PendingCalls.Count) : 0;
        return _state.LastSeq + events.Count + room + growth <= _options.MaxEventsPerConversation;
    }

    private static int ClosingRoom(int pendingCalls) => 2 + pendingCalls;

    private void RequireRoom(params ConversationEvent[] events)
    {
        if (!Fits(events))
        {
            throw ConversationException.TooLarge(
                $"conversation {Id} has reached its limit of {_options.MaxEventsPerConversation} events; start a new conversation");
        }
    }

    /// <summary>
    /// Refuses a new run when the user already has <see cref="AgentOptions.MaxRunningConversationsPerUser"/>
    /// conversations running or waiting. Counted in the store, the one place every silo and gateway shares: the
    /// count holds across a cluster and restarts, and a run frees its slot in the very commit of its terminal event.
    /// Two starts of one user in the same instant may both pass (the count is not a lock); the rate limits bound how
    /// many such starts can race.
    /// </summary>
    private async Task RequireRunSlotAsync(string userId)
    {
        var running = await store.CountActiveAsync(userId, Id);
        if (running >= _options.MaxRunningConversationsPerUser)
        {
            throw ConversationException.RateLimited(
                $"{running} of your conversations are running or waiting for you, and the limit is {_options.MaxRunningConversationsPerUser}; " +
                "let one finish (answer or cancel it) and try again");
        }
    }

    /// <summary>A loop's append that would leave no room to close its run.</summary>
    private sealed class LogFullException() : Exception("The conversation's log is full.");

    // ---- Helpers ------------------------------------------------------------------------------------------

    private ConversationRecord ToRecord() =>
        new(Id, _state.Owner, _state.Title, _state.Status, _state.CreatedAt, _state.UpdatedAt, _state.LastSeq, _state.LastRunOutcome);

    /// <summary>The conversation as of its last durable event: a status is never shown before its event is stored.</summary>
    private ConversationInfo Info() =>
        _durable.LastSeq >= _state.LastSeq ? CurrentInfo() : _durable;

    private ConversationInfo CurrentInfo() =>
        new(Id, _state.Title, _state.Status, _state.CreatedAt, _state.UpdatedAt, _state.LastSeq, _state.LastRunOutcome);

    private void MarkDurable(ConversationInfo info)
    {
        if (info.LastSeq > _durable.LastSeq)
        {
            _durable = info;
        }
    }

    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds());

    private void ThrowIfBroken()
    {
        if (_deleted)
        {
            throw ConversationException.NotFound($"conversation {Id} was deleted");
        }

        if (_broken is not null)
        {
            throw new InvalidOperationException($"Conversation {Id} is reloading after a storage failure; retry.", _broken);
        }
    }

    private void RequireOwner(string userId)
    {
        ThrowIfBroken();
        RequireUser(userId);
        if (!_exists || _deleting || !string.Equals(_state.Owner, userId, StringComparison.Ordinal))
        {
            throw ConversationException.NotFound($"conversation {Id} not found");
        }
    }

    private static void RequireUser(string userId)
    {
        if (string.IsNullOrWhiteSpace(userId))
        {
            throw ConversationException.InvalidArgument("a user is required");
        }
    }

    private void ValidateText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw ConversationException.InvalidArgument("text must not be empty");
        }

        if (text.Length > _options.MaxMessageChars)
        {
            throw ConversationException.TooLarge($"text has {text.Length} characters; the limit is {_options.MaxMessageChars}");
        }
    }

    private static void ValidateClientMessageId(string? clientMessageId)
    {
        if (clientMessageId is not null && (clientMessageId.Length is 0 or > 128))
        {
            throw ConversationException.InvalidArgument("clientMessageId must be 1-128 characters");
        }
    }

    /// <summary>
    /// A title is a one-line label: control characters become spaces (NUL among them, which PostgreSQL's text
    /// cannot hold, so the same title is stored on either store), and the ends are trimmed.
    /// </summary>
    private static string AsTitle(string text) =>
        string.Create(text.Length, text, static (chars, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                chars[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        }).Trim();

    private static string TitleFrom(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "New conversation";
        }

        var line = AsTitle(text.Trim().Split('\n')[0]);
        if (line.Length <= 60)
        {
            return line;
        }

        // Never cut between the halves of a surrogate pair: half a character cannot be stored as UTF-8.
        var cut = char.IsHighSurrogate(line[56]) ? 56 : 57;
        return string.Concat(line.AsSpan(0, cut), "...");
    }

    /// <summary>
    /// Merges streamed text while the conversation's previous append is being written, so coalescing follows the
    /// database's speed: a chunk that finds nothing in flight is appended at once (one event per token for a model at a
    /// human pace, latency of one commit), and under load or with a fast model chunks merge for as long as a commit
    /// takes. Text is never held longer than the flush window; a window of zero turns merging off.
    /// </summary>
    private sealed class DeltaBuffer(ConversationGrain grain, string runId, string messageId, TimeSpan window)
    {
        private readonly StringBuilder _pending = new();
        private int _generation;

        public void Add(string text)
        {
            var wasEmpty = _pending.Length == 0;
            _pending.Append(text);
            if (window <= TimeSpan.Zero || grain._lastAppend.IsCompleted)
            {
                Flush();
            }
            else if (wasEmpty)
            {
                _ = FlushWhenWrittenAsync(_generation, grain._lastAppend);
            }
        }

        public void Flush()
        {
            _generation++;
            if (_pending.Length == 0)
            {
                return;
            }

            grain.Append(runId, new MessageDeltaStreamed(messageId, _pending.ToString()));
            _pending.Clear();
        }

        public void Discard()
        {
            _generation++;
            _pending.Clear();
        }

        private async Task FlushWhenWrittenAsync(int generation, Task inFlight)
        {
            // Continues on the grain's scheduler, so the flush is one of the grain's turns like any other append.
            await Task.WhenAny(inFlight, Task.Delay(window));
            if (generation != _generation || grain._broken is not null)
            {
                // Flushed or discarded meanwhile; or the log failed and the loop, which owns that error, is stopping.
                return;
            }

            Flush();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId} resumes run {RunId}")]
    private partial void LogResuming(string conversationId, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: model call attempt {Attempt} failed; retrying in {Delay}")]
    private partial void LogModelRetry(Exception exception, string conversationId, int attempt, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: run {RunId} failed")]
    private partial void LogRunFailed(Exception exception, string conversationId, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: the loop stopped")]
    private partial void LogLoopStopped(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId}: tool {Tool} failed")]
    private partial void LogToolFailed(Exception exception, string conversationId, string tool);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: publishing from seq {Seq} failed (attempt {Attempt})")]
    private partial void LogPublishRetry(Exception exception, string conversationId, long seq, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversation {ConversationId}: events {FirstSeq}-{LastSeq} are stored but could not be published")]
    private partial void LogPublishFailed(Exception exception, string conversationId, long firstSeq, long lastSeq);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversation {ConversationId}: an append failed; reloading from the log")]
    private partial void LogBroken(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: snapshot unreadable; replaying the whole log")]
    private partial void LogSnapshotUnreadable(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: the resume reminder could not be updated")]
    private partial void LogReminderFailed(Exception exception, string conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversation {ConversationId}: run {RunId} reached the limit of {MaxEvents} events and ends")]
    private partial void LogLogFull(string conversationId, string runId, int maxEvents);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversation {ConversationId} deleted")]
    private partial void LogDeleted(string conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId} deactivating: {Reason}")]
    private partial void LogDeactivating(string conversationId, DeactivationReasonCode reason);
}
