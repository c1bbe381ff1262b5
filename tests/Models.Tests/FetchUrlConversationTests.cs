using System.Text.Json;
using System.Text.Json.Nodes;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Tests;
using static Agents.Models.Tests.StreamingTests;

namespace Agents.Models.Tests;

/// <summary><c>fetch_url</c> in a conversation of the real silo: offered to the model, its page or its refusal in <c>tool.result</c>.</summary>
public sealed class FetchUrlConversationTests(ModelsFixture silo) : IAsyncLifetime
{
    private WebTestServer _site = null!;

    public async ValueTask InitializeAsync() => _site = await WebTestServer.StartAsync();

    public ValueTask DisposeAsync() => _site.DisposeAsync();

    [Fact]
    public async Task FetchUrl_CalledByTheModel_GivesThePageInToolResult_AndInTheNextRequest()
    {
        var arguments = JsonSerializer.Serialize(new { url = _site.Url("/redirect/1").AbsoluteUri });
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_fetch_page", "web-fetch_url", arguments))
            .Then(FakeReply.Say("The page has a main heading."));
        var id = await silo.StartAsync(script, "What does the test page say?");

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "tool.call", "tool.result", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        Assert.Contains("web-fetch_url", script.Requests[0].ToolNames);
        var result = Assert.Single(Data<ToolResultReturned>(events));
        Assert.Null(result.Error);
        var page = JsonNode.Parse(result.Result!)!;
        Assert.Equal(_site.Url("/page").AbsoluteUri, page["url"]!.GetValue<string>());
        Assert.Equal(200, page["status"]!.GetValue<int>());
        Assert.Equal("The test page", page["title"]!.GetValue<string>());
        Assert.Contains("# Main heading", page["text"]!.GetValue<string>());
        Assert.Contains("Main heading", RecordedRequest.TextOf(script.Requests[1].Messages.Single(m => m["role"]!.GetValue<string>() == "tool")));
        Assert.IsType<RunCompleted>(events[^1].Data);
    }

    [Fact]
    public async Task FetchUrl_OfTheMetadataAddress_IsAToolErrorSayingWhy_AndTheModelCarriesOn()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_fetch_metadata", "web-fetch_url", """{"url":"http://169.254.169.254/latest/meta-data/"}"""))
            .Then(FakeReply.Say("I cannot read that address."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var error = Assert.Single(Data<ToolResultReturned>(events)).Error;
        Assert.Equal("tool_error", error?.Code);
        Assert.Equal(
            "Refused 169.254.169.254: 169.254.169.254 is a link-local address (where cloud metadata services live); only public internet addresses can be fetched.",
            error?.Message);
        Assert.IsType<RunCompleted>(events[^1].Data);
    }
}
