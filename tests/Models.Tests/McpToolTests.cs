using System.Text.Json.Nodes;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Tests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using static Agents.Models.Tests.StreamingTests;

namespace Agents.Models.Tests;

/// <summary>Tools of a configured MCP server (ours, over streamable HTTP) are offered and invoked like plugins.</summary>
public sealed class McpToolTests(ModelsFixture silo)
{
    private static string Role(JsonObject message) => message["role"]!.GetValue<string>();

    [Fact]
    public async Task McpTool_CalledByTheModel_ItsResultIsInToolResult_AndInTheNextRequest()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_lookup", "notes-lookup_note", "{\"key\":", "\"groceries\"}"))
            .Then(FakeReply.Say("Your note says: buy oat milk."));
        var id = await silo.StartAsync(script, "What is on my groceries note?");

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal(
            ["message.user", "run.started", "tool.call", "tool.result", "message.delta", "message.assistant", "run.completed"],
            LogInvariants.Shape(events));
        var result = Assert.Single(Data<ToolResultReturned>(events));
        Assert.Null(result.Error);
        Assert.Equal("notes-lookup_note", result.Name);
        Assert.Equal($"groceries: {NotesMcpServer.NotesTools.Note}", JsonNode.Parse(result.Result!)!.GetValue<string>());

        // The model was offered the server's tools under the server's name, and not those of the server that is down.
        var offered = script.Requests[0].ToolNames;
        Assert.Contains("notes-lookup_note", offered);
        Assert.Contains("notes-note_stats", offered);
        Assert.Contains("notes-delete_note", offered);
        Assert.DoesNotContain(offered, n => n.StartsWith("offline-", StringComparison.Ordinal));

        var tool = script.Requests[1].Messages.Single(m => Role(m) == "tool");
        Assert.Equal("call_mcp_lookup", tool["tool_call_id"]!.GetValue<string>());
        Assert.Contains(NotesMcpServer.NotesTools.Note, RecordedRequest.TextOf(tool));

        // The server got the model's arguments only, and the call id as an idempotency key in _meta.
        var served = Assert.Single(silo.Notes.Calls, c => c.Meta?.Contains("call_mcp_lookup") == true);
        Assert.Equal("lookup-note", served.Tool);
        Assert.Equal("""{"key":"groceries"}""", served.Arguments);
        Assert.Equal("call_mcp_lookup", JsonNode.Parse(served.Meta!)!["agents/callId"]!.GetValue<string>());
    }

    [Fact]
    public async Task McpToolWithStructuredContent_GivesAJsonResult()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_stats", "notes-note_stats", "{\"tag\":\"home\",\"limit\":2}"))
            .Then(FakeReply.Say("Two notes."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var result = JsonNode.Parse(Assert.Single(Data<ToolResultReturned>(events)).Result!)!;
        Assert.Equal("home", result["tag"]!.GetValue<string>());
        Assert.Equal(2, result["count"]!.GetValue<int>());
    }

    [Fact]
    public async Task McpToolOnTheApprovalList_WaitsForTheUser_ThenRuns()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_delete", "notes-delete_note", "{\"key\":\"old\"}"))
            .Then(FakeReply.Say("Deleted."));
        var id = await silo.StartAsync(script);

        var upToRequest = await silo.WaitForAsync(id, e => e.Type == EventTypes.InputRequested, TimeSpan.FromSeconds(20));
        var request = Assert.IsType<InputRequested>(upToRequest[^1].Data);
        Assert.Equal(InputKinds.Approval, request.Kind);
        Assert.Equal("notes-delete_note", request.Name);
        Assert.DoesNotContain(silo.Notes.Calls, c => c.Meta?.Contains("call_mcp_delete") == true);

        await silo.Conversation(id).RespondAsync(ModelsFixture.User, new Respond(request.RequestId, Approved: true), TestContext.Current.CancellationToken);
        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        Assert.Equal("deleted old", JsonNode.Parse(Data<ToolResultReturned>(events).Single().Result!)!.GetValue<string>());
        Assert.Single(silo.Notes.Calls, c => c.Meta?.Contains("call_mcp_delete") == true);
        Assert.IsType<RunCompleted>(events[^1].Data);
    }

    [Fact]
    public async Task McpToolThatFails_GivesAToolErrorWithItsMessage_AndTheModelCarriesOn()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_broken", "notes-broken_note", "{\"key\":\"k7\"}"))
            .Then(FakeReply.Say("That note is broken."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var error = Assert.Single(Data<ToolResultReturned>(events)).Error;
        Assert.Equal("tool_error", error?.Code);
        Assert.Contains("note k7 is corrupt", error?.Message);
        Assert.IsType<RunCompleted>(events[^1].Data);
        Assert.Contains("corrupt", RecordedRequest.TextOf(script.Requests[1].Messages.Single(m => Role(m) == "tool")));
    }

    [Fact]
    public async Task McpToolThatHangs_TimesOutAfterTheToolTimeout()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_slow", "notes-slow_note", "{\"seconds\":60}"))
            .Then(FakeReply.Say("It took too long."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id, ModelsFixture.ToolTimeout + TimeSpan.FromSeconds(10));

        LogInvariants.AssertHold(events);
        var call = Data<ToolCalled>(events).Single();
        var result = Data<ToolResultReturned>(events).Single();
        Assert.Equal("timeout", result.Error?.Code);
        var took = events.Single(e => e.Data == result).At - events.Single(e => e.Data == call).At;
        Assert.InRange(took, ModelsFixture.ToolTimeout - TimeSpan.FromMilliseconds(100), ModelsFixture.ToolTimeout + TimeSpan.FromSeconds(3));
        Assert.IsType<RunCompleted>(events[^1].Data);
    }

    [Fact]
    public async Task StdioMcpServer_ItsToolRunsInTheChildProcess()
    {
        var script = silo.Model.NewScript()
            .Then(FakeReply.Stream().ToolCall("call_mcp_shout", "text-shout", "{\"text\":\"quiet please\"}"))
            .Then(FakeReply.Say("Done."));
        var id = await silo.StartAsync(script);

        var events = await silo.WaitForEndAsync(id);

        LogInvariants.AssertHold(events);
        var result = Assert.Single(Data<ToolResultReturned>(events));
        Assert.Null(result.Error);
        var text = JsonNode.Parse(result.Result!)!.GetValue<string>();
        Assert.StartsWith("QUIET PLEASE (pid ", text);
        Assert.DoesNotContain($"(pid {Environment.ProcessId})", text);
        Assert.Contains("text-shout", script.Requests[0].ToolNames);
    }

    [Fact]
    public void McpToolsTheServerMarksReadOnly_MayRunAgainAfterARestart_OthersMayNot()
    {
        var kernel = silo.Services.GetRequiredService<Kernel>();
        bool Idempotent(string function) =>
            kernel.Plugins.GetFunction("notes", function).UnderlyingMethod?.IsDefined(typeof(IdempotentAttribute), inherit: false) == true;

        Assert.True(Idempotent("lookup_note"));
        Assert.True(Idempotent("note_stats"));
        Assert.False(Idempotent("delete_note"));
        Assert.False(Idempotent("slow_note"));
        Assert.Equal("notes", kernel.Plugins.GetFunction("notes", "lookup_note").PluginName);
    }

    [Fact]
    public void McpServerThatIsDown_IsLoggedAndSkipped_AndTheSiloRuns()
    {
        Assert.Contains(silo.Logs.Entries, e =>
            e.Category.EndsWith("McpToolConnector", StringComparison.Ordinal)
            && e.Level == Microsoft.Extensions.Logging.LogLevel.Error
            && e.Message.Contains("MCP server offline", StringComparison.Ordinal));
        Assert.Contains(silo.Logs.Entries, e => e.Message.Contains("MCP server notes connected", StringComparison.Ordinal));
    }
}
