using System.Text;
using Agents.Events;
using Agents.FakeOpenAI;
using Agents.Grains.Tests;

namespace Agents.Models.Tests;

/// <summary>The provider's API key is used, and is found nowhere else: not in an event, not in the database, not in a log.</summary>
public sealed class SecretTests(ModelsFixture silo)
{
    [Fact]
    public async Task ApiKey_IsSentToTheProvider_ButNeverStored_NorLogged()
    {
        // Success, a tool call, and the failure paths that log exceptions (HTTP errors, a dropped stream, a bad chunk).
        var ok = silo.Model.NewScript()
            .Then(FakeReply.Error(500))
            .Then(FakeReply.Stream().ToolCall("call_secret1", "Demo-search_restaurants", "{\"query\":\"Thai\"}"))
            .Then(FakeReply.Stream().Text("one ").DropConnection())
            .Then(FakeReply.Stream().Text("two ").MalformedChunk())
            .Then(FakeReply.Say("Done."));
        var refused = silo.Model.NewScript()
            .Otherwise(FakeReply.Error(401, message: $"Incorrect API key provided: sk-test-****{silo.ApiKey[^4..]}."));
        var first = await silo.StartAsync(ok);
        var second = await silo.StartAsync(refused);
        var events = (await silo.WaitForEndAsync(first)).Concat(await silo.WaitForEndAsync(second)).ToList();
        Assert.Contains(events, e => e.Data is RunCompleted);
        Assert.Contains(events, e => e.Data is RunFailed);

        Assert.All(ok.Requests.Concat(refused.Requests), r => Assert.Equal($"Bearer {silo.ApiKey}", r.Authorization));

        Assert.All(events, e => Assert.DoesNotContain(silo.ApiKey, AgentJson.SerializeData(e.Data), StringComparison.Ordinal));
        foreach (var file in Directory.GetFiles(silo.Directory, "agents.db*"))
        {
            Assert.DoesNotContain(silo.ApiKey, ReadShared(file), StringComparison.Ordinal);
        }

        var logs = silo.Logs.Entries;
        Assert.Contains(logs, e => e.Exception is not null && e.Category.Contains("ConversationGrain", StringComparison.Ordinal));
        Assert.All(logs, e => Assert.DoesNotContain(silo.ApiKey, e.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public void McpServerHeaders_AreSent_ButNeverLogged()
    {
        Assert.NotEmpty(silo.Notes.Authorizations);
        Assert.All(silo.Notes.Authorizations, a => Assert.Equal($"Bearer {silo.McpToken}", a));
        Assert.All(silo.Logs.Entries, e => Assert.DoesNotContain(silo.McpToken, e.ToString(), StringComparison.Ordinal));
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        return reader.ReadToEnd();
    }
}
