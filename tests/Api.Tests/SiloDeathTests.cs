using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Events;
using Agents.Testing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace Agents.Api.Tests;

/// <summary>
/// A silo's death as the API's clients see it: three silos on PostgreSQL and two gateways (one in this process, one a
/// process of its own), clients calling every route and hub method in a loop through both while a silo is killed,
/// and later two at once. Every answer is a success, the refusal the call asks for, or <c>unavailable</c> (a 503 with
/// <c>Retry-After</c>, <c>unavailable:</c> from the hub); none is a 500 or hangs; the calls safe to repeat mostly
/// succeed; nothing is stored twice.
/// </summary>
public sealed class SiloDeathTests
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KillingSilos_EveryRouteAndHubMethodAnswersSuccessOrUnavailable_AndNothingIsStoredTwice()
    {
        await using var postgres = new PostgresServer();
        var connectionString = await postgres.CreateDatabaseAsync("silodeath", Ct);
        var clusterId = $"death-{Guid.NewGuid():N}";
        var signingKey = TestEnvironment.NewSigningKey();
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = clusterId,
            ["Orleans__FailureDetection"] = "Fast",
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["Llm__DemoTokensPerSecond"] = "200",
            ["Auth__DevTokens"] = "true",
            ["Auth__AllowDevTokensInCluster"] = "true",
            ["Auth__SigningKey"] = signingKey,
            ["Logging__LogLevel__Default"] = "Warning",
            // The clients call in a tight loop: limits are another test's subject.
            ["Agent__MaxRunningConversationsPerUser"] = "1000000",
            ["RateLimits__SendsPerMinute"] = "1000000",
            ["RateLimits__SendBurst"] = "1000000",
            ["RateLimits__ConversationsPerMinute"] = "1000000",
            ["RateLimits__ConversationBurst"] = "1000000",
        };
        await SiloProcess.MigrateAsync(settings, Ct);
        var directory = TestEnvironment.NewTempDirectory();
        var silos = new List<SiloProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                silos.Add(SiloProcess.Start(directory, settings, TestEnvironment.FreePort()));
            }

            await using var local = TestApp.Build(settings.ToDictionary(s => s.Key.Replace("__", ":", StringComparison.Ordinal), s => (string?)s.Value));
            await local.StartAsync(Ct);
            var management = local.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            await TestEnvironment.EventuallyAsync(async () => (await management.GetHosts(onlyActive: true)).Count == 3, TimeSpan.FromSeconds(90), "three active silos");

            // The second gateway as it is deployed: its own process, from start to /readyz 200.
            var gatewayStart = Stopwatch.StartNew();
            await using var remote = await ApiProcess.StartAsync(directory, TestEnvironment.FreePort(), settings, Ct);
            gatewayStart.Stop();

            var gateways = new[] { new Uri(local.Urls.Single()), remote.BaseAddress };
            var outcomes = new ConcurrentBag<Outcome>();
            var created = new ConcurrentBag<(string User, string ConversationId, string ClientMessageId)>();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var workers = new List<Task>();
            for (var w = 0; w < 4; w++)
            {
                var client = await Client.ConnectAsync(gateways[w % 2], $"death-{w}", Ct);
                workers.Add(Task.Run(() => client.LoopAsync(outcomes, created, stop.Token), Ct));
            }

            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            var firstKill = Stopwatch.GetTimestamp();
            await silos[0].KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(8), Ct);
            silos.Add(SiloProcess.Start(directory, settings, TestEnvironment.FreePort()));
            // The replacement is active. A silo that joins waits until a dead one still listed is declared dead,
            // which the whole suite's load on two cores once dragged past 90 s.
            // Under the whole suite's load that has taken minutes: then the two-at-once phase is left out (said in
            // the output), as killing both survivors would leave no silo at all.
            var replacement = silos[^1];
            Func<Task<bool>> replacementActive = async () => (await management.GetHosts(onlyActive: true)).Keys.Any(h => h.Endpoint.Port == replacement.SiloPort);
            var joined = Stopwatch.StartNew();
            while (!await replacementActive() && joined.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200, Ct);
            }

            var twoAtOnce = joined.Elapsed < TimeSpan.FromSeconds(60);
            var secondKill = long.MaxValue;
            if (twoAtOnce)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), Ct);
                secondKill = Stopwatch.GetTimestamp();
                await Task.WhenAll(silos[1].KillAsync(), silos[2].KillAsync());
                await Task.Delay(TimeSpan.FromSeconds(10), Ct);
            }
            else
            {
                TestContext.Current.TestOutputHelper?.WriteLine("the replacement silo did not join within 60 s: the two-at-once phase was left out");
            }
            await stop.CancelAsync();
            await Task.WhenAll(workers);

            var all = outcomes.ToList();
            var wrong = all.Where(o => o.Kind == OutcomeKind.Wrong).ToList();
            Assert.True(wrong.Count == 0, $"{wrong.Count} of {all.Count} answers were neither a success, the refusal asked for, nor unavailable: "
                + string.Join("; ", wrong.Take(5).Select(o => $"{o.Operation}: {o.Detail}")));
            var safe = all.Where(o => o.Safe).ToList();
            var safeSucceeded = safe.Count(o => o.Kind == OutcomeKind.Success);
            Assert.True(safeSucceeded >= safe.Count * 0.8, $"only {safeSucceeded} of {safe.Count} calls safe to repeat succeeded");
            Assert.Contains(all, o => o.Kind == OutcomeKind.Success && o.At > (twoAtOnce ? secondKill : firstKill));

            // Nothing twice: each create (one client message id each) is one conversation with that message once, and
            // each send's message is stored once.
            foreach (var user in created.Select(c => c.User).Distinct())
            {
                using var check = await Client.ConnectAsync(gateways[0], user, Ct);
                foreach (var (_, conversationId, clientMessageId) in created.Where(c => c.User == user))
                {
                    if (await check.EventsOfAsync(conversationId) is not { } events)
                    {
                        continue;
                    }

                    var sent = events.Select(e => e.Data).OfType<UserMessageSent>().Where(m => m.ClientMessageId is not null).GroupBy(m => m.ClientMessageId);
                    Assert.All(sent, g => Assert.Single(g));
                    Assert.Single(events.Select(e => e.Data).OfType<UserMessageSent>(), m => m.ClientMessageId == clientMessageId);
                }

                var firsts = await check.FirstClientMessageIdsAsync();
                Assert.Equal(firsts.Count, firsts.Distinct().Count());
            }

            var output = TestContext.Current.TestOutputHelper;
            output?.WriteLine($"second gateway: start to /readyz 200 in {gatewayStart.Elapsed.TotalSeconds:0.0} s");
            output?.WriteLine($"{all.Count} calls, {all.Count(o => o.Kind == OutcomeKind.Unavailable)} unavailable, {safeSucceeded} of {safe.Count} safe calls succeeded");
            foreach (var (name, at, until) in new[] { ("one silo killed", firstKill, secondKill), ("two silos killed at once", secondKill, long.MaxValue) })
            {
                var after = all.Where(o => o.At >= at && o.At < until).ToList();
                var failed = after.Where(o => o.Kind == OutcomeKind.Unavailable).ToList();
                var window = failed.Count == 0 ? 0 : failed.Max(o => (Stopwatch.GetElapsedTime(at, o.At) + o.Took).TotalSeconds);
                var slowest = after.Where(o => o.Kind == OutcomeKind.Success).Select(o => o.Took.TotalSeconds).DefaultIfEmpty(0).Max();
                var firstSuccess = after.Where(o => o.Kind == OutcomeKind.Success).Select(o => (Stopwatch.GetElapsedTime(at, o.At) + o.Took).TotalSeconds).DefaultIfEmpty(double.NaN).Min();
                output?.WriteLine($"{name}: {failed.Count} of {after.Count} calls unavailable, the last ending {window:0.00} s after the kill; "
                    + $"the first call started after the kill succeeded {firstSuccess:0.00} s after it; slowest success {slowest:0.00} s");
            }

            // The silos go before this process's gateway: Orleans' client, disposed while a silo still delivers to
            // its watches' stream consumers, throws on a pool thread and takes the test host down.
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private enum OutcomeKind
    {
        Success,
        Refused,
        Unavailable,
        Wrong,
    }

    private sealed record Outcome(string Operation, bool Safe, OutcomeKind Kind, long At, TimeSpan Took, string? Detail = null);

    /// <summary>One user's client: HTTP and the hub through one gateway.</summary>
    private sealed class Client : IDisposable
    {
        private readonly HttpClient _http;
        private readonly HubConnection _hub;
        private readonly string _user;

        private Client(HttpClient http, HubConnection hub, string user) => (_http, _hub, _user) = (http, hub, user);

        public static async Task<Client> ConnectAsync(Uri gateway, string user, CancellationToken cancellationToken)
        {
            var http = new HttpClient { BaseAddress = gateway, Timeout = CallBound };
            var token = await DevTokens.FetchAsync(http, user, cancellationToken);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var hub = new HubConnectionBuilder()
                .WithUrl(new Uri(gateway, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
                .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
                .WithAutomaticReconnect()
                .Build();
            await hub.StartAsync(cancellationToken);
            return new Client(http, hub, user);
        }

        public async Task LoopAsync(ConcurrentBag<Outcome> outcomes, ConcurrentBag<(string, string, string)> created, CancellationToken stop)
        {
            for (var round = 0; !stop.IsCancellationRequested; round++)
            {
                var viaHub = round % 2 == 1;
                var createId = Guid.NewGuid().ToString("N");
                var info = viaHub
                    ? await HubAsync<ConversationInfo>("hub CreateConversation", true, null, outcomes, "CreateConversation", new CreateConversation(Text: "Hello there", ClientMessageId: createId))
                    : await HttpAsync<ConversationInfo>("POST /api/conversations", true, null, outcomes, () => _http.PostAsJsonAsync("/api/conversations", new CreateConversation(Text: "Hello there", ClientMessageId: createId), ApiJson.Options, CallToken()));
                if (info is null)
                {
                    continue;
                }

                created.Add((_user, info.Id, createId));
                var id = info.Id;
                var send = new SendMessage("And one more thing", Guid.NewGuid().ToString("N"));
                var bogus = new Respond("q_nosuchrequest", Approved: true);
                if (viaHub)
                {
                    await HubAsync<ConversationInfo>("hub GetConversation", true, null, outcomes, "GetConversation", id);
                    await HubAsync<List<ConversationInfo>>("hub ListConversations", true, null, outcomes, "ListConversations");
                    await HubAsync<List<ConversationInfo>>("hub ListChildren", true, null, outcomes, "ListChildren", id);
                    await HubAsync<SeqResult>("hub SendMessage", true, null, outcomes, "SendMessage", id, send);
                    await HubAsync<SeqResult>("hub Respond", true, ErrorCodes.NotFound, outcomes, "Respond", id, bogus);
                    await WatchAsync(id, outcomes);
                    await HubAsync<object>("hub Cancel", true, null, outcomes, "Cancel", id);
                    if (round % 4 == 1)
                    {
                        await HubAsync<object>("hub DeleteConversation", false, null, outcomes, "DeleteConversation", id);
                    }
                }
                else
                {
                    await HttpAsync<ConversationInfo>("GET /api/conversations/{id}", true, null, outcomes, () => _http.GetAsync($"/api/conversations/{id}", CallToken()));
                    await HttpAsync<object>("GET /api/conversations", true, null, outcomes, () => _http.GetAsync("/api/conversations", CallToken()));
                    await HttpAsync<object>("GET /api/conversations/{id}/children", true, null, outcomes, () => _http.GetAsync($"/api/conversations/{id}/children", CallToken()));
                    await HttpAsync<object>("GET /api/conversations/{id}/events", true, null, outcomes, () => _http.GetAsync($"/api/conversations/{id}/events?after=0", CallToken()));
                    await HttpAsync<object>("GET /api/conversations/{id}/transcript", true, null, outcomes, () => _http.GetAsync($"/api/conversations/{id}/transcript", CallToken()));
                    await HttpAsync<object>("POST /api/conversations/{id}/messages", true, null, outcomes, () => _http.PostAsJsonAsync($"/api/conversations/{id}/messages", send, ApiJson.Options, CallToken()));
                    await HttpAsync<object>("POST /api/conversations/{id}/responses", true, ErrorCodes.NotFound, outcomes, () => _http.PostAsJsonAsync($"/api/conversations/{id}/responses", bogus, ApiJson.Options, CallToken()));
                    await HttpAsync<object>("GET /api/conversations/{id}/events/stream", true, null, outcomes, () => _http.GetAsync($"/api/conversations/{id}/events/stream?after=0", HttpCompletionOption.ResponseHeadersRead, CallToken()));
                    await HttpAsync<object>("POST /api/conversations/{id}/cancel", true, null, outcomes, () => _http.PostAsync($"/api/conversations/{id}/cancel", null, CallToken()));
                    if (round % 4 == 0)
                    {
                        await HttpAsync<object>("DELETE /api/conversations/{id}", false, null, outcomes, () => _http.DeleteAsync($"/api/conversations/{id}", CallToken()));
                    }
                }
            }
        }

        /// <summary>The conversation's whole log once the cluster answers; null when it was deleted.</summary>
        public async Task<List<EventEnvelope>?> EventsOfAsync(string conversationId)
        {
            var events = new List<EventEnvelope>();
            while (true)
            {
                using var response = await RetriedAsync(() => _http.GetAsync($"/api/conversations/{conversationId}/events?after={(events.Count == 0 ? 0 : events[^1].Seq)}&limit=1000", Ct));
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                var page = (await response.Content.ReadFromJsonAsync<EventPage>(ApiJson.Options, Ct))!;
                events.AddRange(page.Events);
                if (page.Events.Count == 0)
                {
                    return events;
                }
            }
        }

        /// <summary>The client message id of each of the user's conversations' first message.</summary>
        public async Task<List<string?>> FirstClientMessageIdsAsync()
        {
            using var response = await RetriedAsync(() => _http.GetAsync("/api/conversations?limit=500", Ct));
            var list = (await response.Content.ReadFromJsonAsync<List<ConversationInfo>>(ApiJson.Options, Ct))!;
            var firsts = new List<string?>();
            foreach (var info in list)
            {
                var events = await EventsOfAsync(info.Id);
                firsts.Add(events?.Select(e => e.Data).OfType<UserMessageSent>().FirstOrDefault()?.ClientMessageId);
            }

            return firsts;
        }

        public void Dispose()
        {
            _hub.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _http.Dispose();
        }

        private async Task<HttpResponseMessage> RetriedAsync(Func<Task<HttpResponseMessage>> call)
        {
            // The check after the chaos: the one survivor may still be taking over.
            for (var attempt = 1; ; attempt++)
            {
                var response = await call();
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 30)
                {
                    return response;
                }

                response.Dispose();
                await Task.Delay(500, Ct);
            }
        }

        private static CancellationToken CallToken() => new CancellationTokenSource(CallBound).Token;

        private static async Task<T?> HttpAsync<T>(string operation, bool safe, string? refusal, ConcurrentBag<Outcome> outcomes, Func<Task<HttpResponseMessage>> call)
        {
            var at = Stopwatch.GetTimestamp();
            try
            {
                using var response = await call();
                var took = Stopwatch.GetElapsedTime(at);
                if (response.IsSuccessStatusCode)
                {
                    outcomes.Add(new(operation, safe, OutcomeKind.Success, at, took));
                    return typeof(T) == typeof(object) || response.StatusCode == HttpStatusCode.NoContent
                        ? default
                        : await response.Content.ReadFromJsonAsync<T>(ApiJson.Options, Ct);
                }

                var body = await response.Content.ReadAsStringAsync(Ct);
                var kind = response.StatusCode switch
                {
                    HttpStatusCode.ServiceUnavailable when response.Headers.RetryAfter is not null && body.Contains("\"unavailable\"", StringComparison.Ordinal) => OutcomeKind.Unavailable,
                    _ when refusal is not null && body.Contains($"\"{refusal}\"", StringComparison.Ordinal) => OutcomeKind.Refused,
                    _ => OutcomeKind.Wrong,
                };
                outcomes.Add(new(operation, safe, kind, at, took, $"{(int)response.StatusCode} {body}"));
            }
            catch (Exception ex) when (ex is TaskCanceledException or HttpRequestException && !Ct.IsCancellationRequested)
            {
                outcomes.Add(new(operation, safe, OutcomeKind.Wrong, at, Stopwatch.GetElapsedTime(at), $"no answer within {CallBound.TotalSeconds} s: {ex.GetType().Name}"));
            }

            return default;
        }

        private async Task<T?> HubAsync<T>(string operation, bool safe, string? refusal, ConcurrentBag<Outcome> outcomes, string method, params object?[] args)
        {
            var at = Stopwatch.GetTimestamp();
            try
            {
                var result = await _hub.InvokeCoreAsync<T>(method, args, CallToken());
                outcomes.Add(new(operation, safe, OutcomeKind.Success, at, Stopwatch.GetElapsedTime(at)));
                return result;
            }
            catch (HubException ex)
            {
                var kind = ex.Message.Contains($"{ErrorCodes.Unavailable}:", StringComparison.Ordinal) ? OutcomeKind.Unavailable
                    : refusal is not null && ex.Message.Contains($"{refusal}:", StringComparison.Ordinal) ? OutcomeKind.Refused
                    : OutcomeKind.Wrong;
                outcomes.Add(new(operation, safe, kind, at, Stopwatch.GetElapsedTime(at), ex.Message));
            }
            catch (Exception ex) when (!Ct.IsCancellationRequested)
            {
                // A connection lost with the gateway is not what this test is about (gateways stay up): it is wrong too.
                outcomes.Add(new(operation, safe, OutcomeKind.Wrong, at, Stopwatch.GetElapsedTime(at), $"{ex.GetType().Name}: {ex.Message}"));
                await WaitConnectedAsync();
            }

            return default;
        }

        private async Task WatchAsync(string id, ConcurrentBag<Outcome> outcomes)
        {
            var at = Stopwatch.GetTimestamp();
            try
            {
                await foreach (var e in _hub.StreamAsync<EventEnvelope>("Watch", id, 0L, CallToken()))
                {
                    if (e.Seq >= 1)
                    {
                        break;
                    }
                }

                outcomes.Add(new("hub Watch", true, OutcomeKind.Success, at, Stopwatch.GetElapsedTime(at)));
            }
            catch (HubException ex)
            {
                var kind = ex.Message.Contains($"{ErrorCodes.Unavailable}:", StringComparison.Ordinal) ? OutcomeKind.Unavailable : OutcomeKind.Wrong;
                outcomes.Add(new("hub Watch", true, kind, at, Stopwatch.GetElapsedTime(at), ex.Message));
            }
            catch (Exception ex) when (!Ct.IsCancellationRequested)
            {
                outcomes.Add(new("hub Watch", true, OutcomeKind.Wrong, at, Stopwatch.GetElapsedTime(at), $"{ex.GetType().Name}: {ex.Message}"));
                await WaitConnectedAsync();
            }
        }

        private async Task WaitConnectedAsync()
        {
            while (_hub.State != HubConnectionState.Connected && !Ct.IsCancellationRequested)
            {
                await Task.Delay(100, Ct);
            }
        }
    }


}
