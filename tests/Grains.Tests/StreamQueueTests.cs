using Orleans.Providers;
using Orleans.Runtime;

namespace Agents.Grains.Tests;

/// <summary>The conversation stream's queues, as the silo wires them (Streaming/WaitingStreamQueueGrain.cs).</summary>
public sealed class StreamQueueTests(SiloFixture silo)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void TheMemoryStreamQueue_IsTheOneThatWaits()
    {
        // Orleans names a grain type after its class, less "Grain".
        var queue = silo.Grains.GetGrain<IMemoryStreamQueueGrain>(Guid.NewGuid());
        Assert.Equal("waitingstreamqueue", queue.GetGrainId().Type.ToString());
    }

    [Fact]
    public async Task AReadOfAnEmptyQueue_AnswersWithTheNextEnqueue_AndKeepsTheOrder()
    {
        // The read goes first and finds nothing; a queue that answered at once (Orleans' own) returns it empty every
        // time. Ours holds it until the enqueue. A try is spoiled only if the machine stalls for the whole wait
        // (Orleans:StreamQueueWait, 1 s) between the two calls, so a few tries make this certain, not timing-bound.
        var stream = StreamId.Create("test", "queue");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var queue = silo.Grains.GetGrain<IMemoryStreamQueueGrain>(Guid.NewGuid());
            // Activated first (calls that race an activation may be taken in any order), then read empty once: only a
            // queue found empty twice in a row waits, so a busy one is still read in batches.
            await queue.Enqueue(new MemoryMessageData { StreamId = stream, Payload = new([0]) }, Ct);
            Assert.Single(await queue.Dequeue(10, Ct));
            Assert.Empty(await queue.Dequeue(10, Ct));

            var read = queue.Dequeue(10, Ct);
            await queue.Enqueue(new MemoryMessageData { StreamId = stream, Payload = new([1]) }, Ct);
            await queue.Enqueue(new MemoryMessageData { StreamId = stream, Payload = new([2]) }, Ct);

            var first = await read.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            if (first.Count == 0)
            {
                continue;
            }

            var rest = await queue.Dequeue(10, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            var all = first.Concat(rest).ToList();
            Assert.Equal([1, 2], all.Select(m => (int)m.Payload[0]));
            Assert.True(all[0].SequenceNumber < all[1].SequenceNumber);
            return;
        }

        Assert.Fail("no read that began before an enqueue ever answered with it");
    }

    [Fact]
    public async Task AReadOfAQueueThatStaysEmpty_AnswersEmpty_AfterTheWait()
    {
        var queue = silo.Grains.GetGrain<IMemoryStreamQueueGrain>(Guid.NewGuid());

        Assert.Empty(await queue.Dequeue(10, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct));
    }
}
