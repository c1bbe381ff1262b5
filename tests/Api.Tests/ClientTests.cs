using System.Diagnostics;
using System.Net.Http.Json;
using Agents.Client;
using Agents.Events;
using Agents.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Api.Tests;

/// <summary>The .NET client package against the real service: its calls, its typed refusals, and a watch that rides through a restart.</summary>
public sealed class ClientTests(ApiFixture api)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ThroughTheClient_ADinnerIsWatchedAnsweredAndForked_AndRefusalsAreTyped()
    {
        var user = TestEnvironment.NewUser("client");
        var token = await api.TokenAsync(user);
        var services = new ServiceCollection();
        services.AddAgentClient(o => (o.BaseAddress, o.AccessTokenProvider) = (api.BaseAddress, _ => Task.FromResult<string?>(token)));
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<AgentClient>();
        var created = new List<ConversationInfo>();
        client.ConversationCreated += created.Add;

        var info = await client.CreateConversationAsync(new CreateConversation(Text: Contract.DinnerRequest, ClientMessageId: Guid.NewGuid().ToString("N")), Ct);
        var events = new List<EventEnvelope>();
        await foreach (var e in client.WatchAsync(info.Id, 0, Ct))
        {
            events.Add(e);
            if (e.Data is InputRequested request)
            {
                await Assert.ThrowsAsync<AgentConflictException>(() =>
                    client.SendMessageAsync(info.Id, "Not now", MessageModes.Reject, cancellationToken: Ct));
                Assert.NotNull(await client.RespondAsync(info.Id, new Respond(request.RequestId, Approved: true), Ct));
                await Assert.ThrowsAsync<AgentConflictException>(() => client.RespondAsync(info.Id, new Respond(request.RequestId, Approved: false), Ct));
            }

            if (EventTypes.IsTerminal(e.Type))
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Seq));
        Assert.Equal(EventTypes.RunCompleted, events[^1].Type);

        // From a seq: exactly the rest.
        var rest = new List<EventEnvelope>();
        await foreach (var e in client.WatchAsync(info.Id, events.Count - 3, Ct))
        {
            rest.Add(e);
            if (rest.Count == 3)
            {
                break;
            }
        }

        Assert.Equal(events.TakeLast(3).Select(e => e.Seq), rest.Select(e => e.Seq));

        var fork = await client.ForkAsync(info.Id, events[^1].Seq, Ct);
        Assert.Equal(new ForkOrigin(info.Id, events[^1].Seq), fork.ForkedFrom);
        Assert.Contains((await client.ListAsync(Ct)), c => c.Id == fork.Id);
        Assert.True((await client.GetUsageAsync(Ct)).Today.OutputTokens > 0);
        await TestEnvironment.EventuallyAsync(() => Task.FromResult(created.Any(c => c.Id == fork.Id) ? "told" : null), TimeSpan.FromSeconds(10), "ConversationCreated");

        await Assert.ThrowsAsync<AgentNotFoundException>(() => client.GetAsync(Ids.NewConversationId(), Ct));
        var invalid = await Assert.ThrowsAsync<AgentException>(() => client.SendMessageAsync(info.Id, "hi", "shout", cancellationToken: Ct));
        Assert.Equal(ErrorCodes.InvalidArgument, invalid.Code);
        await Assert.ThrowsAsync<AgentNotFoundException>(async () =>
        {
            await foreach (var _ in client.WatchAsync(Ids.NewConversationId(), 0, Ct))
            {
            }
        });
    }

    [Fact]
    public async Task AWatch_RidesThroughARestartOfTheService_WithNothingMissingOrTwice_AndGivesUpWhenItStaysDown()
    {
        var directory = TestEnvironment.NewTempDirectory();
        var port = TestEnvironment.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["Llm__DemoTokensPerSecond"] = "40",
            ["Auth__SigningKey"] = TestEnvironment.NewSigningKey(),
        };
        var service = await ApiProcess.StartAsync(directory, port, settings, Ct);
        try
        {
            using var http = new HttpClient { BaseAddress = service.BaseAddress };
            var token = await DevTokens.FetchAsync(http, "restart", Ct);
            await using var client = ClientOf(service.BaseAddress, token, TimeSpan.FromSeconds(60));
            var info = await client.CreateConversationAsync(new CreateConversation(Text: "Please book a table for dinner, 3 people", ClientMessageId: "c-1"), Ct);

            var events = new List<EventEnvelope>();
            var restarted = false;
            await foreach (var e in client.WatchAsync(info.Id, 0, Ct))
            {
                events.Add(e);
                if (!restarted && events.Count == 4)
                {
                    // The service dies under the watch and comes back on the same port and file.
                    restarted = true;
                    await service.KillAsync();
                    await service.DisposeAsync();
                    service = await ApiProcess.StartAsync(directory, port, settings, Ct);
                }

                if (e.Data is InputRequested request)
                {
                    await client.RespondAsync(info.Id, new Respond(request.RequestId, Approved: true), Ct);
                }

                if (e.Type == EventTypes.RunCompleted)
                {
                    break;
                }
            }

            Assert.True(restarted);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Seq));

            // Down for good: the watch gives up with a clear exception after its patience.
            await using var patient = ClientOf(service.BaseAddress, token, TimeSpan.FromSeconds(2));
            var watching = Task.Run(async () =>
            {
                await foreach (var e in patient.WatchAsync(info.Id, events[^1].Seq, Ct))
                {
                }
            }, Ct);
            await Task.Delay(500, Ct);
            await service.KillAsync();
            var stopwatch = Stopwatch.StartNew();
            var gaveUp = await Assert.ThrowsAsync<AgentUnavailableException>(() => watching.WaitAsync(TimeSpan.FromSeconds(60), Ct));
            Assert.Contains($"after seq {events[^1].Seq}", gaveUp.Message);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"gave up after {stopwatch.Elapsed}");
        }
        finally
        {
            await service.DisposeAsync();
        }
    }

    [Fact]
    public async Task AWatch_RidesThroughTheDeathOfItsGateway_WhileTheRunGoesOnInTheCluster()
    {
        await using var postgres = new PostgresServer();
        var connectionString = await postgres.CreateDatabaseAsync("clientfailover", Ct);
        var settings = new Dictionary<string, string>
        {
            ["Orleans__Mode"] = "Cluster",
            ["Orleans__ClusterId"] = $"client-{Guid.NewGuid():N}",
            ["Storage__Provider"] = "Postgres",
            ["ConnectionStrings__Agents"] = connectionString,
            ["Llm__DemoTokensPerSecond"] = "20",
            ["Agent__RequireApproval__0"] = "",
            ["Auth__DevTokens"] = "true",
            ["Auth__AllowDevTokensInCluster"] = "true",
            ["Auth__SigningKey"] = TestEnvironment.NewSigningKey(),
        };
        await SiloProcess.MigrateAsync(settings, Ct);
        var directory = TestEnvironment.NewTempDirectory();
        var silos = new List<SiloProcess>();
        var port = TestEnvironment.FreePort();
        ApiProcess? gateway = null;
        try
        {
            silos.Add(SiloProcess.Start(directory, settings, TestEnvironment.FreePort()));
            silos.Add(SiloProcess.Start(directory, settings, TestEnvironment.FreePort()));
            gateway = await ApiProcess.StartAsync(directory, port, settings, Ct);
            using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
            var token = await DevTokens.FetchAsync(http, "failover", Ct);
            await using var client = ClientOf(gateway.BaseAddress, token, TimeSpan.FromSeconds(90));
            var info = await client.CreateConversationAsync(new CreateConversation(Text: "Can you order dinner for two tonight?"), Ct);

            var events = new List<EventEnvelope>();
            var killedAfter = 0L;
            await foreach (var e in client.WatchAsync(info.Id, 0, Ct))
            {
                events.Add(e);
                if (killedAfter == 0 && e.Type == EventTypes.MessageDelta)
                {
                    // The gateway dies mid-answer; the run lives in a silo and goes on; the gateway comes back.
                    killedAfter = e.Seq;
                    await gateway.KillAsync();
                    await gateway.DisposeAsync();
                    gateway = await ApiProcess.StartAsync(directory, port, settings, Ct);
                }

                if (EventTypes.IsTerminal(e.Type))
                {
                    break;
                }
            }

            Assert.True(killedAfter > 0);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Seq));
            Assert.Equal(EventTypes.RunCompleted, events[^1].Type);
            Assert.DoesNotContain(events, e => e.Type == EventTypes.RunResumed);
            Assert.Equal(events[^1].Seq, (await client.GetAsync(info.Id, Ct)).LastSeq);
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("invalid_argument", typeof(AgentException))]
    [InlineData("not_found", typeof(AgentNotFoundException))]
    [InlineData("conflict", typeof(AgentConflictException))]
    [InlineData("rate_limited", typeof(AgentRateLimitedException))]
    [InlineData("too_large", typeof(AgentException))]
    [InlineData("unavailable", typeof(AgentUnavailableException))]
    public void EveryCodeOfTheContract_IsItsTypedException(string code, Type type)
    {
        // As SignalR hands a hub's refusal to a .NET client.
        var hub = new Microsoft.AspNetCore.SignalR.HubException(
            $"An unexpected error occurred invoking 'SendMessage' on the server. HubException: {code}: the reason; retry after 7 s");
        var refusal = AgentException.FromHub(hub);
        Assert.IsType(type, refusal);
        Assert.Equal(code, refusal!.Code);
        Assert.StartsWith($"{code}: the reason", refusal.Message, StringComparison.Ordinal);
        if (refusal is AgentRateLimitedException limited)
        {
            Assert.Equal(TimeSpan.FromSeconds(7), limited.RetryAfter);
        }

        Assert.Null(AgentException.FromHub(new Microsoft.AspNetCore.SignalR.HubException("An unexpected error occurred on the server.")));
        Assert.Null(AgentException.FromHub(new Microsoft.AspNetCore.SignalR.HubException($"the word {code}s: is not a code")));
    }

    /// <summary>A client of the service at <paramref name="baseAddress"/>, signed in with <paramref name="token"/>.</summary>
    private static AgentClient ClientOf(Uri baseAddress, string token, TimeSpan watchGiveUpAfter) => new(new AgentClientOptions
    {
        BaseAddress = baseAddress,
        AccessTokenProvider = _ => Task.FromResult<string?>(token),
        WatchGiveUpAfter = watchGiveUpAfter,
    });
}
