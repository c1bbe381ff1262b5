using Agents.Api.Streaming;
using Agents.Events;
using Agents.Silo.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Streams;

namespace Agents.Api.Tests;

/// <summary>
/// What the soak found growing with every conversation ever watched: Orleans' per-stream handles in the gateway and
/// the single node's pub-sub entries. Each must go once its conversation is done with, and what replaces it must
/// still deliver every live event.
/// </summary>
public sealed class StreamResourceTests(ApiFixture api)
{
    private const string User = "stream-resource-user";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheGatewayLetsGoOfAStreamHandle_WhenTheLastWatcherOfItsConversationLeaves()
    {
        var handles = api.Services.GetRequiredService<StreamHandleCache>();
        Assert.True(handles.IsAvailable, "Orleans' stream handle cache was not found: has an Orleans upgrade moved it?");

        var ids = Enumerable.Range(0, 20).Select(_ => Ids.NewConversationId()).ToList();
        var watchers = new List<FeedWatcher>();
        foreach (var id in ids)
        {
            watchers.Add(await api.Feeds.JoinAsync(id, Ct));
            watchers.Add(await api.Feeds.JoinAsync(id, Ct));
        }

        var cached = Cached(handles, ids);
        Assert.Equal(ids.Count, cached);

        foreach (var watcher in watchers)
        {
            watcher.Dispose();
        }

        await WaitUntilAsync(() => Cached(handles, ids) == 0, "the handles of conversations nobody watches are still cached");
    }

    [Fact]
    public async Task AQuietUnwatchedStream_LeavesThePubSubStore_AndItsNextWatcherStillHearsEveryEventLive()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Llm:DemoTokensPerSecond"] = "500",
            // The agents forget a stream after 1 s without events, so the store may forget it after 2 s.
            ["Orleans:StreamInactivityPeriod"] = "00:00:01",
        };
        await TestApp.RunSingleNodeAsync(settings, async app =>
        {
            var client = app.Services.GetRequiredService<IClusterClient>();
            var feeds = app.Services.GetRequiredService<ConversationFeeds>();
            var store = app.Services.GetRequiredService<SingleNodePubSubStore>();
            var id = Ids.NewConversationId();
            var stream = StreamId.Create(AgentNames.ConversationStreamNamespace, id);
            var grain = client.GetGrain<IConversationGrain>(id);

            long lastSeq;
            using (var first = await feeds.JoinAsync(id, Ct))
            {
                await grain.CreateAsync(User, new CreateConversation(Text: "hello"), Ct);
                lastSeq = await ReadRunAsync(first, afterSeq: 0);
                Assert.True(store.Holds(stream));
            }

            await WaitUntilAsync(() => !store.Holds(stream), "the pub-sub entry of a quiet stream nobody watches was kept");

            // Every idle activation goes, the stream's rendezvous among them: the next watcher's subscription reads
            // the store afresh, and the agent must register again for the next run's events to reach it.
            await client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero, Ct);
            using var second = await feeds.JoinAsync(id, Ct);
            await grain.SendMessageAsync(User, new SendMessage("hello again"), Ct);
            lastSeq = await ReadRunAsync(second, lastSeq);

            // A watcher that stays keeps the entry, however long the stream is quiet.
            await Task.Delay(TimeSpan.FromSeconds(4), Ct);
            Assert.True(store.Holds(stream), "the pub-sub entry of a watched stream was forgotten");
            await client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero, Ct);
            await grain.SendMessageAsync(User, new SendMessage("and again"), Ct);
            await ReadRunAsync(second, lastSeq);
        }, Ct);
    }

    private static int Cached(StreamHandleCache handles, IEnumerable<string> ids) =>
        ids.Count(id => handles.Contains(StreamId.Create(AgentNames.ConversationStreamNamespace, id)));

    /// <summary>Reads one run live, from its first event to its end, every seq once and in order; returns the last seq.</summary>
    private static async Task<long> ReadRunAsync(FeedWatcher watcher, long afterSeq)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Patience);
        var seq = afterSeq;
        while (true)
        {
            foreach (var envelope in await watcher.Reader.ReadAsync(timeout.Token))
            {
                Assert.Equal(++seq, envelope.Seq);
                if (envelope.Data.Type == EventTypes.RunCompleted)
                {
                    return seq;
                }
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100, Ct);
        }
    }
}
