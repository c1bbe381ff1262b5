using System.Text.Json.Nodes;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Tests;

namespace Agents.Models.Tests;

/// <summary>What the OpenAI connector streams, over real HTTP, becomes the contract's events.</summary>
public sealed class StreamingTests(ModelsFixture silo)
{
    [Fact]
    public async Task StreamedText_BecomesDeltasAndOneAssistantMessage()
    {
        var script = silo.Model.NewScript().Then(FakeReply.Say("Hel", "lo, ", "wor", "ld!"));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(["message.user", "run.started", "message.delta", "message.assistant", "run.completed"], LogInvariants.Shape(events));
        Assert.Equal(["Hel", "lo, ", "wor", "ld!"], Data<MessageDeltaStreamed>(events).Select(d => d.Text));
        Assert.Equal("Hello, world!", Assert.Single(Data<AssistantMessageCompleted>(events)).Text);

        var request = Assert.Single(script.Requests);
        Assert.True(request.Stream);
        Assert.True(request.IncludeUsage);
        Assert.Equal("fake", request.Json?["model"]?.GetValue<string>());
        Assert.Equal(["system", "user"], request.Messages.Select(m => m["role"]?.GetValue<string>()));
    }

    [Fact]
    public async Task ToolCall_WhoseArgumentsArriveInPieces_RunsTheTool_AndTheNextRequestCarriesCallAndResult()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_pieces1", "Demo-search_restaurants", "{\"qu", "ery\": \"Tha", "i food\"", "}"))
            .Then(FakeReply.Say("Golden Lotus it is."));
        var id = await silo.StartAsync(script, "Find me Thai food");

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "tool.call", "tool.result", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        var call = Assert.Single(Data<ToolCalled>(events));
        Assert.Equal("call_pieces1", call.CallId);
        Assert.Equal("Demo-search_restaurants", call.Name);
        Assert.Equal("Thai food", JsonNode.Parse(call.Arguments)!["query"]!.GetValue<string>());
        var result = Assert.Single(Data<ToolResultReturned>(events));
        Assert.Null(result.Error);
        Assert.Contains("Golden Lotus", result.Result);

        Assert.Equal(2, script.Requests.Count);
        Assert.Contains("Demo-search_restaurants", script.Requests[0].ToolNames);
        var next = script.Requests[1].Messages;
        var assistant = next.Single(m => m["role"]?.GetValue<string>() == "assistant");
        var toolCall = Assert.Single(assistant["tool_calls"]!.AsArray())!;
        Assert.Equal("call_pieces1", toolCall["id"]!.GetValue<string>());
        Assert.Equal("Demo-search_restaurants", toolCall["function"]!["name"]!.GetValue<string>());
        Assert.Equal("Thai food", JsonNode.Parse(toolCall["function"]!["arguments"]!.GetValue<string>())!["query"]!.GetValue<string>());
        var tool = next.Single(m => m["role"]?.GetValue<string>() == "tool");
        Assert.Equal("call_pieces1", tool["tool_call_id"]!.GetValue<string>());
        Assert.Contains("Golden Lotus", RecordedRequest.TextOf(tool));
        Assert.Equal(["system", "user", "assistant", "tool"], next.Select(m => m["role"]?.GetValue<string>()));
    }

    [Fact]
    public async Task TwoToolCallsInOneResponse_BothRun_AndTheNextRequestCarriesBothResults()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream()
                .Text("Let me look.")
                .ToolCall("call_twin_a", "Demo-search_restaurants", "{\"query\":", "\"Italian\"}")
                .ToolCall("call_twin_b", "Demo-search_restaurants", "{\"query\":\"Japa", "nese\"}"))
            .Then(FakeReply.Say("Trattoria Lumi or Sakura Bar."));
        var id = await silo.StartAsync(script, "Italian or Japanese?");

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "message.delta", "message.assistant", "tool.call", "tool.call", "tool.result", "tool.result",
                "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        Assert.Equal(["call_twin_a", "call_twin_b"], Data<ToolCalled>(events).Select(c => c.CallId));
        Assert.Equal(["Italian", "Japanese"], Data<ToolCalled>(events).Select(c => JsonNode.Parse(c.Arguments)!["query"]!.GetValue<string>()));
        var results = Data<ToolResultReturned>(events).ToList();
        Assert.Contains("Trattoria Lumi", results[0].Result);
        Assert.Contains("Sakura Bar", results[1].Result);

        var next = script.Requests[1].Messages;
        var assistant = next.Single(m => m["role"]?.GetValue<string>() == "assistant");
        Assert.Equal("Let me look.", RecordedRequest.TextOf(assistant));
        Assert.Equal(["call_twin_a", "call_twin_b"], assistant["tool_calls"]!.AsArray().Select(c => c!["id"]!.GetValue<string>()));
        var tools = next.Where(m => m["role"]?.GetValue<string>() == "tool").ToList();
        Assert.Equal(["call_twin_a", "call_twin_b"], tools.Select(t => t["tool_call_id"]!.GetValue<string>()));
        Assert.Contains("Trattoria Lumi", RecordedRequest.TextOf(tools[0]));
        Assert.Contains("Sakura Bar", RecordedRequest.TextOf(tools[1]));
    }

    [Fact]
    public async Task Usage_OfEveryModelCall_IsSummedInRunCompleted()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_usage1", "Demo-search_restaurants", "{\"query\":\"Mexican\"}").Usage(120, 17))
            .Then(FakeReply.Say("Casa Verde.").Usage(260, 9));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var completed = Assert.IsType<RunCompleted>(events[^1].Data);
        Assert.Equal(new TokenUsage(380, 26), completed.Usage);
    }

    [Fact]
    public async Task InvalidToolArguments_GetAnInvalidArgumentsResult_AndTheModelCarriesOn()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_badjson", "Demo-search_restaurants", "{\"query\": \"sushi"))
            .Then(FakeReply.Say("Sorry, let me try again later."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal("invalid_arguments", Assert.Single(Data<ToolResultReturned>(events)).Error?.Code);
        Assert.IsType<RunCompleted>(events[^1].Data);
        Assert.Contains("invalid_arguments", RecordedRequest.TextOf(script.Requests[1].Messages.Single(m => m["role"]?.GetValue<string>() == "tool")));
    }

    internal static IEnumerable<T> Data<T>(IEnumerable<EventEnvelope> events) => events.Select(e => e.Data).OfType<T>();
}
