using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Agents.Api.Hosting;
using Agents.Events;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Data.Sqlite;

namespace Agents.Api.Tests;

/// <summary><c>DELETE /api/conversations/{id}</c> and the hub's <c>DeleteConversation</c>, checked in the SQLite file itself.</summary>
public sealed class DeletionTests(ApiFixture api)
{
    private static readonly JsonSerializerOptions Json = ApiJson.Options;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Delete_OverHttp_MidRun_EndsHubAndSseWatchers_AndLeavesNoRowInAnyTable()
    {
        var user = TestEnvironment.NewUser("deleter");
        using var http = await api.HttpAsAsync(user);
        await using var hub = await api.ConnectAsync(user, Ct);

        // One finished run (a transcript row), then a second run waiting for its approval.
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: "tell me something"), Ct);
        await using var watch = EventRecorder.Start(hub, info.Id);
        await watch.WaitForTypeAsync(EventTypes.RunCompleted);
        await hub.InvokeAsync<object>("SendMessage", info.Id, new SendMessage(Contract.DinnerRequest), Ct);
        await watch.WaitForTypeAsync(EventTypes.InputRequested);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sse = ReadSseAsync(http, info.Id, connected);
        await connected.Task.WaitAsync(EventRecorder.DefaultTimeout, Ct);
        Assert.True(CountRows(info.Id).Values.Sum() > 2, "the conversation is stored before it is deleted");

        using var deleted = await http.DeleteAsync($"/api/conversations/{info.Id}", Ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);

        // The hub watch got the run closed as a cancel closes it, then ended with not_found.
        await watch.WaitForEndAsync();
        Assert.Equal(EventTypes.RunCancelled, watch.Events[^1].Type);
        Contract.AssertGapless(watch.Events);
        Assert.IsType<HubException>(watch.Error);
        Assert.Contains("not_found:", watch.Error.Message);
        Assert.Contains("deleted", watch.Error.Message);

        // The SSE stream ends with `event: deleted`, after the same last event.
        var streamed = await sse;
        Assert.Equal("deleted", streamed[^1].Event);
        Assert.Null(streamed[^1].Id);
        Assert.Equal("not_found", JsonDocument.Parse(streamed[^1].Data).RootElement.GetProperty("code").GetString());
        Assert.Equal(EventTypes.RunCancelled, streamed[^2].Event);

        Assert.All(CountRows(info.Id), table => Assert.True(table.Value == 0, $"{table.Key} still has {table.Value} rows of {info.Id}"));
        await AssertProblemAsync(await http.GetAsync($"/api/conversations/{info.Id}", Ct), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await http.GetAsync($"/api/conversations/{info.Id}/events", Ct), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await http.GetAsync($"/api/conversations/{info.Id}/transcript", Ct), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await http.DeleteAsync($"/api/conversations/{info.Id}", Ct), HttpStatusCode.NotFound, "not_found");
        Assert.Empty((await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!);
    }

    [Fact]
    public async Task DeleteConversation_OverTheHub_IsNotFoundForAnotherUser_AndForASecondDelete()
    {
        var owner = TestEnvironment.NewUser("owner");
        await using var hub = await api.ConnectAsync(owner, Ct);
        await using var stranger = await api.ConnectAsync(TestEnvironment.NewUser("stranger"), Ct);
        using var strangerHttp = await api.HttpAsAsync(TestEnvironment.NewUser("stranger"));
        var info = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "keep out"), Ct);
        var stored = CountRows(info.Id);
        Assert.Equal(1, stored["conversations"]);

        var refused = await Assert.ThrowsAsync<HubException>(() => stranger.InvokeAsync("DeleteConversation", info.Id, Ct));
        Assert.Contains("not_found:", refused.Message);
        await AssertProblemAsync(await strangerHttp.DeleteAsync($"/api/conversations/{info.Id}", Ct), HttpStatusCode.NotFound, "not_found");
        Assert.Equal(stored, CountRows(info.Id));
        Assert.Contains("not_found:", (await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("DeleteConversation", Ids.NewConversationId(), Ct))).Message);

        await hub.InvokeAsync("DeleteConversation", info.Id, Ct);

        Assert.All(CountRows(info.Id), table => Assert.Equal(0, table.Value));
        Assert.Contains("not_found:", (await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("DeleteConversation", info.Id, Ct))).Message);
        Assert.Contains("not_found:", (await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<ConversationInfo>("GetConversation", info.Id, Ct))).Message);
    }

    /// <summary>Rows that name the conversation, per table of the database (every table but the schema's version).</summary>
    private Dictionary<string, long> CountRows(string conversationId)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(api.Directory, "agents.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            // user_usage is a user's spend per day, no conversation's row: deleting a conversation refunds nothing.
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('schema_version', 'user_usage');";
            using var reader = list.ExecuteReader();
            while (reader.Read())
            {
                tables.Add(reader.GetString(0));
            }
        }

        Assert.Superset(new HashSet<string> { "conversations", "events", "snapshots", "transcripts" }, tables.ToHashSet());
        var counts = new Dictionary<string, long>();
        foreach (var table in tables)
        {
            using var count = connection.CreateCommand();
            var key = table == "conversations" ? "id" : "conversation_id";
            count.CommandText = $"SELECT COUNT(*) FROM {table} WHERE {key} = $id;";
            count.Parameters.AddWithValue("$id", conversationId);
            counts[table] = (long)count.ExecuteScalar()!;
        }

        return counts;
    }

    /// <summary>Follows the SSE stream from the start until it ends; <paramref name="connected"/> is set once the server watches.</summary>
    private static async Task<List<SseEvent>> ReadSseAsync(HttpClient http, string conversationId, TaskCompletionSource connected)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(EventRecorder.DefaultTimeout);
        using var response = await http.GetAsync($"/api/conversations/{conversationId}/events/stream", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var events = new List<SseEvent>();
        string? id = null, type = null, data = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line == ": connected")
            {
                connected.TrySetResult();
            }
            else if (line.Length == 0)
            {
                if (data is not null)
                {
                    events.Add(new SseEvent(id, type, data));
                }

                id = type = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        return events;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(code, JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
        }
    }

    private sealed record SseEvent(string? Id, string? Event, string Data);
}
