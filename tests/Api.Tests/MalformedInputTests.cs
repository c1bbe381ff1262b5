using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Api.Hubs;
using Agents.Events;
using Microsoft.AspNetCore.SignalR;
using Agents.Api.Identity;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Api.Tests;

/// <summary>
/// Bad input on every route and hub method: each refusal is the contract's (a problem with its status and
/// <c>code</c>, a <see cref="HubException"/> with its code), the server goes on serving, and the log holds
/// nothing it should not. Odd but valid text is data: stored and returned exactly as sent.
/// </summary>
public sealed class MalformedInputTests(ApiFixture api)
{
    private static readonly JsonSerializerOptions Json = ApiJson.Options;

    /// <summary>Not JSON at all, or JSON no route accepts (as raw text, since typed clients cannot send it).</summary>
    private static readonly string[] BrokenJson =
    [
        "{\"text\":", "not json", "{\"text\":\"hi\"} trailing", "{'text':'hi'}", "{\"text\":\"hi\",}",
        "{\"text\":\"hi\",\"x\":" + new string('[', 200) + new string(']', 200) + "}",
    ];

    /// <summary>Strings with escapes that are not UTF-16: a lone high, a lone low, and a reversed pair.</summary>
    private static readonly string[] LoneSurrogates = ["a\\ud800b", "a\\udc00", "\\udc00\\ud800"];

    /// <summary>Valid text that has broken naive code: SQL, markup, bidi and invisible characters, NUL, astral emoji.</summary>
    public static readonly string[] OddTexts =
    [
        "'; DROP TABLE events; --",
        "Robert'); DELETE FROM conversations WHERE ('1'='1",
        "\" OR \"\"=\"",
        "<script>window.__pwned = 1</script>",
        "<img src=x onerror=\"window.__pwned=1\">&amp;&lt;",
        "abc\u202Edcba\u202C",
        "zero\u200Bwidth\u200C\u200Djoiners\uFEFF",
        "👩‍👩‍👧 🇫🇷 𝕏",
        "nul\u0000inside",
        "tab\tnew\nline\r\ncr\u0085\u2028\u2029",
        "e\u0301 combining",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HttpBodies_ThatAreMalformedMistypedOrMissing_AreInvalidArgument_AndStoreNothing()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("badhttp"));
        var target = await CreateAsync(http, "{\"title\":\"target\"}");
        var messages = $"/api/conversations/{target.Id}/messages";
        var responses = $"/api/conversations/{target.Id}/responses";

        string[] badSends =
        [
            .. BrokenJson,
            "{\"text\":5}", "{\"text\":true}", "{\"text\":[\"hi\"]}", "{\"text\":{\"value\":\"hi\"}}", "[{\"text\":\"hi\"}]", "\"hi\"", "42",
            "{\"text\":\"hi\",\"clientMessageId\":7}", "{\"text\":\"hi\",\"clientMessageId\":[\"a\"]}",
            "{}", "{\"clientMessageId\":\"c1\"}", "{\"text\":null}", "null", "",
            .. LoneSurrogates.Select(s => $"{{\"text\":\"{s}\"}}"),
            "{\"text\":\"hi\",\"clientMessageId\":\"\\ud800\"}",
        ];
        foreach (var body in badSends)
        {
            await AssertRefusedAsync(http, target.Id, await PostAsync(http, messages, body), body);
        }

        string[] badResponses =
        [
            .. BrokenJson,
            "{\"requestId\":5,\"approved\":true}", "{\"requestId\":\"q_1\",\"approved\":\"yes\"}", "{\"requestId\":\"q_1\",\"approved\":1}",
            "{\"requestId\":[\"q_1\"]}", "[]", "{}", "null", "",
            "{\"requestId\":\"q_1' OR '1'='1\",\"approved\":true}", "{\"requestId\":\"<script>\",\"approved\":true}",
            .. LoneSurrogates.Select(s => $"{{\"requestId\":\"q_1\",\"approved\":true,\"text\":\"{s}\"}}"),
        ];
        foreach (var body in badResponses)
        {
            await AssertRefusedAsync(http, target.Id, await PostAsync(http, responses, body), body);
        }

        string[] badCreates =
        [
            .. BrokenJson,
            "{\"title\":5}", "{\"text\":5}", "{\"title\":[\"a\"]}", "{\"clientMessageId\":{}}", "[]", "\"title\"", "7",
            .. LoneSurrogates.Select(s => $"{{\"title\":\"{s}\"}}"),
            .. LoneSurrogates.Select(s => $"{{\"text\":\"{s}\"}}"),
        ];
        foreach (var body in badCreates)
        {
            await AssertRefusedAsync(http, target.Id, await PostAsync(http, "/api/conversations", body), body);
        }

        string[] badTokenRequests = [.. BrokenJson, "{\"user\":5}", "[]", "\"alice\"", "{}", "null", "", "{\"user\":\"\\ud800\"}", "{\"user\":\"alice'--\"}", "{\"user\":\"<script>\"}"];
        foreach (var body in badTokenRequests)
        {
            await AssertRefusedAsync(http, target.Id, await PostAsync(api.Http, "/api/dev/token", body), body);
        }

        // Bytes that are not UTF-8 at all, and a JSON body under another media type.
        using (var notUtf8 = new ByteArrayContent([.. "{\"text\":\""u8, 0xFF, 0xFE, .. "\"}"u8]))
        {
            notUtf8.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            await AssertRefusedAsync(http, target.Id, await http.PostAsync(messages, notUtf8, Ct), "invalid UTF-8");
        }

        await AssertRefusedAsync(http, target.Id, await PostAsync(http, messages, "{\"text\":\"hi\"}", "text/plain"), "text/plain");

        // Query values of the wrong type or out of range.
        string[] badQueries =
        [
            $"/api/conversations/{target.Id}/events?after=abc", $"/api/conversations/{target.Id}/events?after=1.5",
            $"/api/conversations/{target.Id}/events?after=99999999999999999999", $"/api/conversations/{target.Id}/events?limit=abc",
            $"/api/conversations/{target.Id}/events?limit=0", $"/api/conversations/{target.Id}/events/stream?after=abc",
            $"/api/conversations/{target.Id}/events/stream?after=-5", "/api/conversations?limit=abc", "/api/conversations?limit=0",
        ];
        foreach (var query in badQueries)
        {
            await AssertRefusedAsync(http, target.Id, await http.GetAsync(query, HttpCompletionOption.ResponseHeadersRead, Ct), query);
        }

        foreach (var lastEventId in new[] { "abc", "-1", "1e3" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/conversations/{target.Id}/events/stream");
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
            await AssertRefusedAsync(http, target.Id, await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct), lastEventId);
        }

        // Ids carrying SQL or markup are not ids: refused, on every route that takes one.
        foreach (var id in new[] { "c_1' OR '1'='1", "<script>", "c_1;DROP TABLE events", "c_1%00" })
        {
            var escaped = Uri.EscapeDataString(id);
            await AssertRefusedAsync(http, target.Id, await http.GetAsync($"/api/conversations/{escaped}/events", Ct), id);
            await AssertRefusedAsync(http, target.Id, await PostAsync(http, $"/api/conversations/{escaped}/messages", "{\"text\":\"hi\"}"), id);
        }

        // Nothing was stored by any of it: the target's log is empty and it is the only conversation.
        await AssertNothingStoredAsync(http, target.Id);
    }

    [Fact]
    public async Task CreateConversation_WithoutABody_CreatesAnUntitledConversation()
    {
        // Every field of the create body is optional, so no body (or null) is an empty one.
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("nobody"));
        var none = await CreateAsync(http, "");
        var nul = await CreateAsync(http, "null");
        Assert.Equal(0, none.LastSeq);
        Assert.Equal(0, nul.LastSeq);
        Assert.Equal(2, (await ListAsync(http)).Count);
    }

    [Fact]
    public async Task ABodyOverKestrelsLimit_IsTooLarge_AndTheServerGoesOn()
    {
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("huge"));
        var target = await CreateAsync(http, "{\"title\":\"huge\"}");

        // Kestrel's default request body limit is 30,000,000 bytes; the hub's frame limit is smaller still.
        var huge = new byte[30_000_100];
        huge.AsSpan().Fill((byte)'x');
        "{\"text\":\""u8.CopyTo(huge);
        "\"}"u8.CopyTo(huge.AsSpan(huge.Length - 2));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/conversations/{target.Id}/messages") { Content = new ByteArrayContent(huge) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        // As a careful client would: the length is refused before the body is sent (else the refusal races the upload).
        request.Headers.ExpectContinue = true;
        using var response = await http.SendAsync(request, Ct);
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, ErrorCodes.TooLarge);

        await AssertNothingStoredAsync(http, target.Id);
    }

    [Fact]
    public async Task HubArguments_ThatAreMistypedMissingOrExtra_AreInvalidArgument_AndTheConnectionLives()
    {
        var user = TestEnvironment.NewUser("badhub");
        await using var hub = await api.ConnectAsync(user, Ct);
        var target = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "target"), Ct);
        var id = target.Id;

        (string Method, object?[] Arguments)[] calls =
        [
            ("CreateConversation", []), ("CreateConversation", ["a title"]), ("CreateConversation", [new { title = 5 }]),
            ("CreateConversation", [new[] { 1 }]), ("CreateConversation", [new { text = new { } }]), ("CreateConversation", [new CreateConversation(), "extra"]),
            ("SendMessage", [id]), ("SendMessage", [id, new SendMessage("hi"), "extra"]), ("SendMessage", [5, new { text = "hi" }]),
            ("SendMessage", [id, new[] { "hi" }]), ("SendMessage", [id, "hi"]), ("SendMessage", [id, new { text = 5 }]),
            ("SendMessage", [id, new { text = new[] { "a" } }]), ("SendMessage", [id, new { }]), ("SendMessage", [id, null]),
            ("SendMessage", [null, new { text = "hi" }]), ("SendMessage", [new { id }, new { text = "hi" }]),
            ("Respond", [id, new { requestId = 5 }]), ("Respond", [id, new { requestId = "q_1", approved = "yes" }]),
            ("Respond", [id, null]), ("Respond", [id, new { }]), ("Respond", [id]), ("Respond", [id, new { requestId = "q_1' OR '1'='1", approved = true }]),
            ("Cancel", [7]), ("Cancel", []), ("Cancel", [null]), ("Cancel", [new[] { id }]),
            ("GetConversation", [new { id }]), ("GetConversation", []), ("GetConversation", [id, id]), ("GetConversation", ["<script>"]),
            ("ListConversations", ["extra"]),
        ];
        foreach (var (method, arguments) in calls)
        {
            var what = $"{method}({JsonSerializer.Serialize(arguments)})";
            var error = await Assert.ThrowsAsync<HubException>(() => hub.InvokeCoreAsync<object?>(method, arguments, Ct));
            Assert.True(error.Message.Contains("invalid_argument:", StringComparison.Ordinal), $"{what}: {error.Message}");
            await AssertHubServesAsync(hub, id, what);
        }

        (object?[] Arguments, string Why)[] watches =
        [
            ([id, "abc"], "a string seq"), ([id, 1.5], "a fractional seq"), ([id], "no seq"), ([5, 0], "a number id"),
            ([id, -1], "a negative seq"), ([null, 0], "a null id"), ([id, 0, "extra"], "an extra argument"),
        ];
        foreach (var (arguments, why) in watches)
        {
            var error = await Assert.ThrowsAsync<HubException>(async () =>
            {
                await foreach (var _ in hub.StreamAsyncCore<EventEnvelope>("Watch", arguments, Ct))
                {
                }
            });
            Assert.True(error.Message.Contains("invalid_argument:", StringComparison.Ordinal), $"Watch with {why}: {error.Message}");
            await AssertHubServesAsync(hub, id, why);
        }

        using var http = await api.HttpAsAsync(user);
        await AssertNothingStoredAsync(http, id);
    }

    [Fact]
    public async Task RawHubFrames_WithLoneSurrogatesOrWrongTypes_AreInvalidArgument_AndMalformedFramesCloseOnlyThatConnection()
    {
        var user = TestEnvironment.NewUser("rawhub");
        var token = await api.TokenAsync(user);
        using var http = await api.HttpAsAsync(user);
        var target = await CreateAsync(http, "{\"title\":\"raw\"}");

        await using (var raw = await RawHub.ConnectAsync(api.BaseAddress, token))
        {
            string[] arguments =
            [
                .. LoneSurrogates.Select(s => $"[\"{target.Id}\",{{\"text\":\"{s}\"}}]"),
                $"[\"{target.Id}\",{{\"text\":\"hi\",\"clientMessageId\":\"\\udfff\"}}]",
                $"[\"{target.Id}\",{{\"text\":{{}}}}]",
                $"[[\"{target.Id}\"],{{\"text\":\"hi\"}}]",
                $"[\"{target.Id}\",{{\"text\":\"hi\"}},{{}}]",
                $"[\"\\ud800\",{{\"text\":\"hi\"}}]",
            ];
            foreach (var argument in arguments)
            {
                var completion = await raw.InvokeAsync("SendMessage", argument);
                var error = completion.TryGetProperty("error", out var e) ? e.GetString() : null;
                Assert.True(error?.Contains("invalid_argument:", StringComparison.Ordinal) == true, $"{argument}: {completion}");
            }

            var created = await raw.InvokeAsync("CreateConversation", "[{\"title\":\"x\\ud83d\"}]");
            Assert.Contains("invalid_argument:", created.GetProperty("error").GetString());
            var good = await raw.InvokeAsync("GetConversation", $"[\"{target.Id}\"]");
            Assert.Equal(target.Id, good.GetProperty("result").GetProperty("id").GetString());
        }

        // A frame that is not a hub message at all breaks the protocol: the server closes that connection
        // with an error, and serves the next one.
        foreach (var frame in new[] { "{\"type\":1,", "[1,2,3]", "{\"type\":1,\"invocationId\":\"1\",\"target\":\"Cancel\",\"arguments\":\"c_1\"}" })
        {
            await using var raw = await RawHub.ConnectAsync(api.BaseAddress, token);
            var close = await raw.SendUntilCloseAsync(frame);
            Assert.True(close is null || close.Value.GetProperty("type").GetInt32() == 7, $"{frame}: {close}");
        }

        await using (var again = await RawHub.ConnectAsync(api.BaseAddress, token))
        {
            var good = await again.InvokeAsync("GetConversation", $"[\"{target.Id}\"]");
            Assert.Equal(target.Id, good.GetProperty("result").GetProperty("id").GetString());
        }

        await AssertNothingStoredAsync(http, target.Id);
    }

    [Fact]
    public async Task AHubFrameOverTheHubsLimit_ClosesThatConnectionOnly_AndStoresNothing()
    {
        var user = TestEnvironment.NewUser("bigframe");
        await using var hub = await api.ConnectAsync(user, Ct);
        var target = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: "big"), Ct);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += e =>
        {
            closed.TrySetResult(e);
            return Task.CompletedTask;
        };

        // Gateway:MaxHubMessageBytes is 4 MiB: past it the frame is not read, so the connection ends (the
        // contract promises too_large only below it).
        var text = new string('x', 5 * 1024 * 1024);
        await Assert.ThrowsAnyAsync<Exception>(() => hub.InvokeAsync<SeqResult>("SendMessage", target.Id, new SendMessage(text), Ct));
        await closed.Task.WaitAsync(EventRecorder.DefaultTimeout, Ct);

        await using var next = await api.ConnectAsync(user, Ct);
        Assert.Equal(0, (await next.InvokeAsync<ConversationInfo>("GetConversation", target.Id, Ct)).LastSeq);
        using var http = await api.HttpAsAsync(user);
        await AssertNothingStoredAsync(http, target.Id);
    }

    [Fact]
    public async Task OddText_OverHttpAndTheHub_IsStoredAndReturnedExactly()
    {
        var user = TestEnvironment.NewUser("odd");
        using var http = await api.HttpAsAsync(user);
        await using var hub = await api.ConnectAsync(user, Ct);

        foreach (var text in OddTexts)
        {
            var title = AsTitle(text);
            var overHttp = await CreateAsync(http, JsonSerializer.Serialize(new { title = text }));
            Assert.Equal(title, overHttp.Title);
            var overHub = await hub.InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Title: text), Ct);
            Assert.Equal(title, overHub.Title);
            foreach (var id in new[] { overHttp.Id, overHub.Id })
            {
                var info = JsonSerializer.Deserialize<ConversationInfo>(await http.GetStringAsync($"/api/conversations/{id}", Ct), Json)!;
                Assert.Equal(title, info.Title);
            }
        }

        // Every odd text as a message and as its clientMessageId, half over HTTP, half over the hub, in one conversation.
        var chat = await CreateAsync(http, "{\"title\":\"odd messages\"}");
        for (var i = 0; i < OddTexts.Length; i++)
        {
            var text = OddTexts[i];
            if (i % 2 == 0)
            {
                using var sent = await PostAsync(http, $"/api/conversations/{chat.Id}/messages", JsonSerializer.Serialize(new { text, clientMessageId = text }));
                Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
            }
            else
            {
                await hub.InvokeAsync<SeqResult>("SendMessage", chat.Id, new SendMessage(text, text), Ct);
            }
        }

        var page = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{chat.Id}/events?limit=1000", Json, Ct))!;
        var sentTexts = page.Events.Select(e => e.Data).OfType<UserMessageSent>().ToList();
        Assert.Equal(OddTexts, sentTexts.Select(m => m.Text));
        Assert.Equal(OddTexts, sentTexts.Select(m => m.ClientMessageId));

        // The conversations are all there: no text reached the SQL as SQL.
        var titles = (await ListAsync(http)).Select(c => c.Title).ToList();
        Assert.All(OddTexts, t => Assert.Equal(2, titles.Count(x => x == AsTitle(t))));
        await hub.InvokeAsync("Cancel", chat.Id, Ct);
    }

    [Fact]
    public async Task ATitleTakenFromALongText_NeverSplitsACharacter()
    {
        // The title is the text's first line cut to 60 characters: a cut inside a surrogate pair would leave
        // half a character, which no UTF-8 store or JSON writer can carry.
        using var http = await api.HttpAsAsync(TestEnvironment.NewUser("cut"));
        foreach (var at in new[] { 55, 56, 57 })
        {
            var text = new string('a', at) + string.Concat(Enumerable.Repeat("😀", 10));
            var info = await CreateAsync(http, JsonSerializer.Serialize(new { text }));
            Assert.True(info.Title.EnumerateRunes().All(r => r != Rune.ReplacementChar) && !HasLoneSurrogate(info.Title), info.Title);
            Assert.StartsWith(new string('a', at), info.Title);
            var again = JsonSerializer.Deserialize<ConversationInfo>(await http.GetStringAsync($"/api/conversations/{info.Id}", Ct), Json)!;
            Assert.Equal(info.Title, again.Title);
            await http.PostAsync($"/api/conversations/{info.Id}/cancel", null, Ct);
        }

        Assert.Equal(3, (await ListAsync(http)).Count);
    }

    /// <summary>
    /// What a title keeps of a text: control characters become spaces (PostgreSQL's text cannot hold NUL), the
    /// ends are trimmed of what <see cref="char.IsWhiteSpace(char)"/> calls white space; nothing else changes.
    /// </summary>
    internal static string AsTitle(string text) => new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    private async Task AssertRefusedAsync(HttpClient http, string targetId, HttpResponseMessage response, string what)
    {
        using (response)
        {
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, ErrorCodes.InvalidArgument, what);
        }

        // The server still serves a good call.
        using var good = await http.GetAsync($"/api/conversations/{targetId}", Ct);
        Assert.True(good.StatusCode == HttpStatusCode.OK, $"after {what}: {good.StatusCode}");
    }

    private static async Task AssertHubServesAsync(HubConnection hub, string id, string what)
    {
        Assert.True(hub.State == HubConnectionState.Connected, $"after {what} the connection is {hub.State}");
        Assert.Equal(id, (await hub.InvokeAsync<ConversationInfo>("GetConversation", id, Ct)).Id);
    }

    private static async Task AssertNothingStoredAsync(HttpClient http, string targetId)
    {
        var page = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{targetId}/events", Json, Ct))!;
        Assert.Empty(page.Events);
        Assert.Equal(0, page.LastSeq);
        Assert.Equal(targetId, Assert.Single(await ListAsync(http)).Id);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? what = null)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"{what}: expected {status}, got {response.StatusCode}: {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{what}: {response.Content.Headers.ContentType} {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.StartsWith(code + ":", problem.RootElement.GetProperty("detail").GetString());
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string body, string mediaType = "application/json") =>
        await http.PostAsync(path, new StringContent(body, Encoding.UTF8, mediaType), Ct);

    private static async Task<ConversationInfo> CreateAsync(HttpClient http, string body)
    {
        using var response = await PostAsync(http, "/api/conversations", body);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{body}: {response.StatusCode} {text}");
        return JsonSerializer.Deserialize<ConversationInfo>(text, Json)!;
    }

    private static async Task<List<ConversationInfo>> ListAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", Json, Ct))!;

    /// <summary>
    /// The hub's JSON protocol spoken by hand over a WebSocket (no negotiate), to send frames the typed client
    /// cannot: escapes that are not UTF-16, arguments of any shape, broken JSON.
    /// </summary>
    private sealed class RawHub : IAsyncDisposable
    {
        private const char Separator = '\u001e';
        private readonly ClientWebSocket _socket = new();
        private readonly StringBuilder _received = new();
        private int _nextId;

        public static async Task<RawHub> ConnectAsync(Uri baseAddress, string token)
        {
            var hub = new RawHub();
            var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = AgentHub.Path, Query = $"access_token={Uri.EscapeDataString(token)}" }.Uri;
            await hub._socket.ConnectAsync(uri, Ct);
            await hub.SendAsync("{\"protocol\":\"json\",\"version\":1}");
            var handshake = await hub.ReceiveAsync();
            Assert.Equal("{}", handshake?.GetRawText());
            return hub;
        }

        /// <summary>Invokes <paramref name="target"/> with the raw JSON array <paramref name="arguments"/>; returns its completion.</summary>
        public async Task<JsonElement> InvokeAsync(string target, string arguments)
        {
            var id = (++_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await SendAsync($"{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"{target}\",\"arguments\":{arguments}}}");
            while (await ReceiveAsync() is { } message)
            {
                var type = message.GetProperty("type").GetInt32();
                if (type == 3 && message.GetProperty("invocationId").GetString() == id)
                {
                    return message;
                }

                Assert.True(type != 7, $"the server closed the connection: {message}");
            }

            throw new InvalidOperationException("The connection ended before the completion.");
        }

        /// <summary>Sends <paramref name="frame"/> and reads until the server closes; returns its close message, if it sent one.</summary>
        public async Task<JsonElement?> SendUntilCloseAsync(string frame)
        {
            await SendAsync(frame);
            while (await ReceiveAsync() is { } message)
            {
                if (message.GetProperty("type").GetInt32() == 7)
                {
                    return message;
                }
            }

            return null;
        }

        public async ValueTask DisposeAsync()
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException)
                {
                }
            }

            _socket.Dispose();
        }

        private Task SendAsync(string frame) =>
            _socket.SendAsync(Encoding.UTF8.GetBytes(frame + Separator), WebSocketMessageType.Text, endOfMessage: true, Ct);

        /// <summary>The next hub message, or null once the server closed the socket.</summary>
        private async Task<JsonElement?> ReceiveAsync()
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(EventRecorder.DefaultTimeout);
            var buffer = new byte[8192];
            while (true)
            {
                var text = _received.ToString();
                var end = text.IndexOf(Separator, StringComparison.Ordinal);
                if (end >= 0)
                {
                    _received.Remove(0, end + 1);
                    using var document = JsonDocument.Parse(text[..end]);
                    return document.RootElement.Clone();
                }

                if (_socket.State != WebSocketState.Open)
                {
                    return null;
                }

                WebSocketReceiveResult result;
                try
                {
                    result = await _socket.ReceiveAsync(buffer, timeout.Token);
                }
                catch (WebSocketException)
                {
                    return null;
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }

                _received.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
        }
    }
}

/// <summary>Odd text on PostgreSQL, whose text columns refuse what SQLite's take (NUL).</summary>
public sealed class PostgresInputTests
{
    [Fact]
    public async Task OnPostgres_ControlCharactersInTitlesAndTexts_AreStored_NotA500()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var postgres = new PostgresServer();
        var settings = TestApp.SingleNode("unused");
        settings["Storage:Provider"] = "Postgres";
        settings["ConnectionStrings:Agents"] = await postgres.CreateDatabaseAsync("input", ct);
        settings["Llm:DemoTokensPerSecond"] = "0";
        await using var app = TestApp.Build(settings);
        await app.StartAsync(ct);
        var token = app.Services.GetRequiredService<TokenIssuer>().Issue(TestEnvironment.NewUser("pg")).Token;
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        using var titled = await http.PostAsJsonAsync("/api/conversations", new { title = "nul\u0000inside" }, ct);
        Assert.Equal(HttpStatusCode.Created, titled.StatusCode);
        Assert.Equal("nul inside", (await titled.Content.ReadFromJsonAsync<ConversationInfo>(ApiJson.Options, ct))!.Title);

        // The title taken from a text loses its NUL; the message keeps it, in the event's JSON.
        const string text = "first\u0000line\nsecond";
        using var started = await http.PostAsJsonAsync("/api/conversations", new { text }, ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var info = (await started.Content.ReadFromJsonAsync<ConversationInfo>(ApiJson.Options, ct))!;
        Assert.Equal("first line", info.Title);
        var page = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{info.Id}/events", ApiJson.Options, ct))!;
        Assert.Equal(text, page.Events.Select(e => e.Data).OfType<UserMessageSent>().Single().Text);
        Assert.Equal(2, (await http.GetFromJsonAsync<List<ConversationInfo>>("/api/conversations", ApiJson.Options, ct))!.Count);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await app.StopAsync(timeout.Token);
    }
}
