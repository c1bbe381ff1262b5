using System.Diagnostics;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Tests;
using static Agents.Models.Tests.StreamingTests;

namespace Agents.Models.Tests;

/// <summary>
/// Faults of a real provider, injected at the HTTP level: each ends, in bounded time, in the documented outcome,
/// recovered with a consistent log or failed with its code.
/// </summary>
public sealed class FaultTests(ModelsFixture silo)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RateLimited429_WithRetryAfter_WaitsTheAskedTime_ThenRecovers()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Error(429, retryAfter: "1"))
            .Then(FakeReply.Say("After the wait."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "message.delta", "message.assistant", "run.completed"], LogInvariants.Shape(events));
        Assert.Equal(2, script.Requests.Count);
        var gap = script.Requests[1].Elapsed - script.Requests[0].Elapsed;
        // Our own backoff would have been InitialBackoff (50 ms) at most: the gap is the provider's Retry-After.
        Assert.InRange(gap, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task ServerError500_IsRetried_AndRecovers()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Error(500))
            .Then(FakeReply.Say("Second time lucky."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "message.delta", "message.assistant", "run.completed"], LogInvariants.Shape(events));
        Assert.Equal(2, script.Requests.Count);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task ProviderThatKeepsFailing_FailsTheRunWithModelUnavailable_AfterMaxAttempts(int status)
    {
        var script = silo.Model.NewScript().Otherwise(FakeReply.Error(status));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "run.failed"], LogInvariants.Shape(events));
        Assert.Equal("model_unavailable", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(ModelsFixture.MaxAttempts, script.Requests.Count);
    }

    [Fact]
    public async Task ProviderThatKeepsTimingOut408_FailsTheRunWithModelTimeout_AfterMaxAttempts()
    {
        var script = silo.Model.NewScript().Otherwise(FakeReply.Error(408));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal("model_timeout", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(ModelsFixture.MaxAttempts, script.Requests.Count);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    public async Task RefusedRequest_FailsTheRunAtOnce_WithModelError(int status)
    {
        var script = silo.Model.NewScript().Otherwise(FakeReply.Error(status));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal("model_error", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Single(script.Requests);
    }

    [Fact]
    public async Task ConnectionDroppedMidStream_InterruptsTheMessage_AndTheRetryStreamsUnderANewMessageId()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().Text("Half ", "an ").DropConnection())
            .Then(FakeReply.Say("A whole ", "answer."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        AssertInterruptedThenRecovered(events, ["Half ", "an "], "A whole answer.");
        Assert.Equal(2, script.Requests.Count);
    }

    [Fact]
    public async Task ConnectionDroppedBeforeAnyText_IsRetried_WithoutAnInterruptedMessage()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().DropConnection())
            .Then(FakeReply.Say("Here."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "message.delta", "message.assistant", "run.completed"], LogInvariants.Shape(events));
    }

    [Fact]
    public async Task StalledStream_IsCutAfterTheStallTimeout_AndRetried()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().Text("Thinking").Pause(TimeSpan.FromSeconds(30)).Text(" never sent"))
            .Then(FakeReply.Say("Done."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        AssertInterruptedThenRecovered(events, ["Thinking"], "Done.");
        var gap = script.Requests[1].Elapsed - script.Requests[0].Elapsed;
        Assert.InRange(gap, ModelsFixture.StallTimeout, ModelsFixture.StallTimeout + TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task StreamThatStallsEveryTime_FailsTheRunWithModelTimeout_InBoundedTime()
    {
        var script = silo.Model.NewScript().Otherwise(FakeReply.Stream().Pause(TimeSpan.FromSeconds(30)));
        var clock = Stopwatch.StartNew();
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "run.failed"], LogInvariants.Shape(events));
        Assert.Equal("model_timeout", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(ModelsFixture.MaxAttempts, script.Requests.Count);
        // Three stalls of StallTimeout and two short backoffs, not the provider's 30 s.
        Assert.True(clock.Elapsed < ModelsFixture.StallTimeout * ModelsFixture.MaxAttempts + TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task MalformedChunk_InterruptsTheMessage_AndTheRetryRecovers()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().Text("Par", "tial").MalformedChunk())
            .Then(FakeReply.Say("Clean."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        AssertInterruptedThenRecovered(events, ["Par", "tial"], "Clean.");
    }

    [Fact]
    public async Task MalformedEveryTime_FailsTheRunWithModelError()
    {
        var script = silo.Model.NewScript().Otherwise(FakeReply.Stream().Text("x").MalformedChunk());
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Equal("model_error", Assert.IsType<RunFailed>(events[^1].Data).Error.Code);
        Assert.Equal(ModelsFixture.MaxAttempts, Data<MessageInterrupted>(events).Count());
        Assert.All(Data<MessageInterrupted>(events), m => Assert.Equal(InterruptReasons.ModelError, m.Reason));
    }

    [Fact]
    public async Task FaultAfterAToolCall_RetriesOnlyTheModelStep_AndTheToolRunsOnce()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_fault1", "Demo-search_restaurants", "{\"query\":\"Thai\"}"))
            .Then(FakeReply.Stream().Text("Golden ").DropConnection())
            .Then(FakeReply.Say("Golden Lotus."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, Bound);

        LogInvariants.AssertHold(events);
        Assert.Single(Data<ToolCalled>(events));
        Assert.Single(Data<ToolResultReturned>(events));
        AssertInterruptedThenRecovered(events, ["Golden "], "Golden Lotus.");
        // The retried step sends the same context: the call and its result.
        Assert.Equal(
            script.Requests[1].Messages.Select(m => m.ToJsonString()),
            script.Requests[2].Messages.Select(m => m.ToJsonString()));
    }

    /// <summary>One message cut with <c>model_error</c> after its deltas, then a new message that completes the run.</summary>
    private static void AssertInterruptedThenRecovered(List<EventEnvelope> events, string[] cutDeltas, string answer)
    {
        var interrupted = Assert.Single(Data<MessageInterrupted>(events));
        Assert.Equal(InterruptReasons.ModelError, interrupted.Reason);
        Assert.Equal(cutDeltas, Data<MessageDeltaStreamed>(events).Where(d => d.MessageId == interrupted.MessageId).Select(d => d.Text));
        var completed = Data<AssistantMessageCompleted>(events).Last();
        Assert.NotEqual(interrupted.MessageId, completed.MessageId);
        Assert.Equal(answer, completed.Text);
        Assert.IsType<RunCompleted>(events[^1].Data);
        var cut = events.FindIndex(e => e.Data is MessageInterrupted);
        Assert.True(events.Take(cut).All(e => e.Data is not AssistantMessageCompleted a || a.MessageId != interrupted.MessageId));
    }
}
