using System.Text;
using Agents.Events;
using Agents.Grains.Conversations;
using Agents.Grains.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Agent;

/// <summary>
/// One model step of a run: the model answers the conversation's history, streamed into the log as it comes; a
/// transient failure retries the whole step; the answer, its tool calls and its token usage are appended together.
/// </summary>
internal sealed partial class ModelStep(
    ConversationLog log,
    Kernel kernel,
    ToolRunner tools,
    AgentOptions options,
    LlmOptions llm,
    TimeProvider time,
    ILogger logger)
{
    private static readonly PromptExecutionSettings Settings = new()
    {
        FunctionChoiceBehavior = FunctionChoiceBehavior.Auto(autoInvoke: false),
    };

    /// <summary>
    /// The longest the step keeps the activation's scheduler while the model's stream answers synchronously. A fast
    /// model's chunks are read from the socket's buffer without ever waiting, and without a yield the whole answer
    /// would be read in one turn: a commit's completion, the publishing after it (several turns) and every reader of
    /// this grain would wait for the end of the answer, and its first chunk would reach a watcher only then. Measured
    /// (docs/benchmarks.md, S1): 1 ms brings the first chunk near a bare hub's; 10 ms, or yielding only once a
    /// commit has completed, leaves it ten times later, because each publish needs several turns.
    /// </summary>
    private static readonly TimeSpan YieldQuantum = TimeSpan.FromMilliseconds(1);

    private readonly Backoff _backoff = new(llm.InitialBackoff, llm.MaxBackoff);

    /// <summary>
    /// Runs the step. <paramref name="cut"/> ends it early without an error (a message sent with mode interrupt):
    /// its streamed message is closed as <c>superseded</c>, nothing of its answer is recorded, and the loop steps again.
    /// </summary>
    public async Task RunAsync(RunState run, CancellationToken cancellationToken, CancellationToken cut = default)
    {
        var history = ChatHistoryBuilder.Build(log.State, options.SystemPrompt);
        using var step = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, cut);
        Response response;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    response = await StreamAsync(run, history, cancellationToken, step.Token);
                    break;
                }
                catch (ModelCallException failure) when (failure.Transient && attempt < llm.MaxAttempts)
                {
                    var delay = failure.RetryAfter is { } asked ? Min(asked, llm.MaxBackoff) : _backoff.DelayAfter(attempt);
                    LogModelRetry(failure.InnerException ?? failure, log.State.Id, attempt, delay);
                    await Task.Delay(delay, time, step.Token);
                }
            }
        }
        catch (OperationCanceledException) when (cut.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return;
        }

        await log.AppendAsync(run.RunId, [.. Record(run, response)]);
    }

    /// <summary>
    /// The events of an answer: its text (carrying the call's usage), each tool call (the first carries the usage when
    /// there is no text), a result at once for a call that cannot run, and the run's end when nothing is left to do.
    /// </summary>
    private List<ConversationEvent> Record(RunState run, Response response)
    {
        var events = new List<ConversationEvent>();
        var usage = response.Usage;
        if (response.Text.Length > 0 || response.Calls.Count == 0)
        {
            events.Add(new AssistantMessageCompleted(response.MessageId, response.Text, usage));
            usage = null;
        }

        var usedIds = new HashSet<string>(log.State.CallIds);
        foreach (var (modelCallId, name, arguments) in response.Calls.Build())
        {
            var callId = modelCallId is not null && Ids.IsValid(modelCallId) && usedIds.Add(modelCallId) ? modelCallId : Ids.NewCallId();
            usedIds.Add(callId);
            var (json, problem) = ToolRunner.CheckArguments(arguments);
            events.Add(new ToolCalled(callId, name, json, usage));
            usage = null;
            problem ??= tools.Find(name) is null ? ToolRunner.UnknownTool(name) : null;
            if (problem is not null)
            {
                // The model gets the error as the call's result and carries on.
                events.Add(new ToolResultReturned(callId, name, null, problem));
            }
        }

        // A message that arrived while the model was answering still needs an answer: one more step.
        if (response.Calls.Count == 0 && run.Deferred.Count == 0)
        {
            events.Add(new RunCompleted(TokenUsage.Sum(run.Usage, response.Usage)));
        }

        return events;
    }

    /// <summary>
    /// One attempt at a model call, streamed into deltas as it comes. A call that fails after some of its text
    /// was stored ends that message with <c>message.interrupted</c>; a retry streams under a new message id.
    /// </summary>
    private async Task<Response> StreamAsync(RunState run, ChatHistory history, CancellationToken cancellationToken, CancellationToken step)
    {
        var chat = kernel.GetRequiredService<IChatCompletionService>();
        var messageId = Ids.NewMessageId();
        var text = new StringBuilder();
        var calls = new ToolCallAccumulator();
        var deltas = new DeltaBuffer(log, run.RunId, messageId, options.DeltaFlushWindow);
        TokenUsage? usage = null;
        using var telemetry = AgentTelemetry.StartModelCall(time, log.State.Id, llm.ModelName);
        // One timer serves both limits: before each chunk it is set to the stall timeout or what is left of the call's.
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(step);
        try
        {
            await using var stream = chat.GetStreamingChatMessageContentsAsync(history, Settings, kernel, attempt.Token)
                .GetAsyncEnumerator(attempt.Token);
            var turnStarted = time.GetTimestamp();
            while (true)
            {
                attempt.CancelAfter(Min(llm.StallTimeout, llm.CallTimeout - telemetry.Elapsed));
                var next = stream.MoveNextAsync();
                var waited = !next.IsCompleted;
                if (!await next)
                {
                    break;
                }

                if (waited)
                {
                    // Other turns ran meanwhile.
                    turnStarted = time.GetTimestamp();
                }
                else if (time.GetElapsedTime(turnStarted) >= YieldQuantum)
                {
                    await Task.Yield();
                    turnStarted = time.GetTimestamp();
                }

                var chunk = stream.Current;
                telemetry.Chunk();
                if (ChunkMetadata.ProgressIn(chunk.Metadata) is { } line)
                {
                    deltas.Flush();
                    log.Append(run.RunId, new ProgressReported(line));
                }

                if (!string.IsNullOrEmpty(chunk.Content))
                {
                    text.Append(chunk.Content);
                    deltas.Add(chunk.Content);
                }

                calls.Add(chunk.Items);
                usage = ChunkMetadata.UsageIn(chunk.Metadata) ?? usage;
            }
        }
        catch (OperationCanceledException) when (step.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Cut for a message sent with mode interrupt: what was streamed stays, closed as superseded.
            deltas.Discard();
            telemetry.Failed(InterruptReasons.Superseded);
            if (run.OpenMessage?.MessageId == messageId)
            {
                await log.AppendAsync(run.RunId, new MessageInterrupted(messageId, InterruptReasons.Superseded, usage));
            }

            throw;
        }
        catch (Exception ex) when (ex is not LogFullException && !cancellationToken.IsCancellationRequested)
        {
            deltas.Discard();
            var failure = ex is OperationCanceledException
                ? telemetry.Elapsed >= llm.CallTimeout
                    ? new ModelCallException(ModelCallException.Timeout, $"The model did not finish within {llm.CallTimeout}.", true, null, ex)
                    : new ModelCallException(ModelCallException.Timeout, $"The model sent nothing for {llm.StallTimeout}.", true, null, ex)
                : ModelCallException.Classify(ex);
            telemetry.Failed(failure.Code);
            if (run.OpenMessage?.MessageId == messageId)
            {
                await log.AppendAsync(run.RunId, new MessageInterrupted(messageId, InterruptReasons.ModelError, usage));
            }

            throw failure;
        }
        catch
        {
            deltas.Discard();
            throw;
        }

        deltas.Flush();
        telemetry.Completed(usage);
        return new Response(messageId, text.ToString(), calls, usage);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private sealed record Response(string MessageId, string Text, ToolCallAccumulator Calls, TokenUsage? Usage);
}
