using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class GrainStorageTests(ClusterFixture cluster)
{
    private IGrainStorage Storage(string name) => cluster.Silos[0].Services.GetRequiredKeyedService<IGrainStorage>(name);

    [Fact]
    public async Task StateSurvivesDeactivation()
    {
        var grain = cluster.Client.GetGrain<ICounterGrain>("survive-1");
        Assert.Equal(0, await grain.GetAsync());
        Assert.Equal((null, false), await grain.GetStorageInfoAsync());

        await grain.SetAsync(42);
        Assert.Equal(("1", true), await grain.GetStorageInfoAsync());
        await grain.DeactivateAsync();

        Assert.Equal(42, await grain.GetAsync());
        Assert.Equal(("1", true), await grain.GetStorageInfoAsync());
        await grain.SetAsync(43);
        Assert.Equal(("2", true), await grain.GetStorageInfoAsync());
    }

    [Fact]
    public async Task WriteWithStaleETagFails()
    {
        var grain = cluster.Client.GetGrain<ICounterGrain>("stale-1");
        await grain.SetAsync(1);

        // Another writer moves the row on behind the activation's back.
        await ExecuteAsync(cluster.ConnectionString, "UPDATE orleans_grain_state SET version = version + 1 WHERE grain_id_ext = @k", ("k", "stale-1"));

        await Assert.ThrowsAsync<InconsistentStateException>(() => grain.SetAsync(2));

        // Orleans drops the activation after that exception; a fresh one reads the current version and writes.
        await WaitUntilAsync(async () =>
        {
            await grain.SetAsync(3);
            return true;
        }, TimeSpan.FromSeconds(10), "a fresh activation can write");
        await grain.DeactivateAsync();
        Assert.Equal(3, await grain.GetAsync());
    }

    [Fact]
    public async Task ClearStateWorks()
    {
        var grain = cluster.Client.GetGrain<ICounterGrain>("clear-1");
        await grain.SetAsync(5);
        await grain.ClearAsync();
        Assert.Equal(0, await grain.GetAsync());
        var (etag, exists) = await grain.GetStorageInfoAsync();
        Assert.False(exists);
        Assert.Equal("2", etag);

        await grain.DeactivateAsync();
        Assert.Equal(0, await grain.GetAsync());
        Assert.Equal(("2", false), await grain.GetStorageInfoAsync());

        await grain.SetAsync(6);
        await grain.DeactivateAsync();
        Assert.Equal(6, await grain.GetAsync());
    }

    [Fact]
    public async Task ProviderChecksETagsOnEveryOperation()
    {
        var storage = Storage(ClusterFixture.StorageName);
        const string type = "StorageContract";
        var id = GrainId.Create("storage-contract", $"k-{Guid.NewGuid():N}");

        // Two activations that both think the grain is new: the first insert wins.
        var first = new GrainState<CounterState>(new CounterState { Value = 1 });
        await storage.WriteStateAsync(type, id, first);
        Assert.Equal("1", first.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(type, id, new GrainState<CounterState>(new CounterState { Value = 2 })));

        first.State!.Value = 3;
        await storage.WriteStateAsync(type, id, first);
        Assert.Equal("2", first.ETag);
        var stale = new GrainState<CounterState>(new CounterState { Value = 4 }) { ETag = "1" };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(type, id, stale));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(type, id, stale));

        var read = new GrainState<CounterState>(new CounterState());
        await storage.ReadStateAsync(type, id, read);
        Assert.Equal((3, "2", true), (read.State!.Value, read.ETag, read.RecordExists));

        await storage.ClearStateAsync(type, id, read);
        Assert.Equal(("3", false), (read.ETag, read.RecordExists));
        var afterClear = new GrainState<CounterState>(new CounterState { Value = 99 });
        await storage.ReadStateAsync(type, id, afterClear);
        Assert.Equal((0, "3", false), (afterClear.State!.Value, afterClear.ETag, afterClear.RecordExists));

        // Reading a grain that was never written: no ETag, no record.
        var never = new GrainState<CounterState>(new CounterState());
        await storage.ReadStateAsync(type, GrainId.Create("storage-contract", "never-written"), never);
        Assert.Equal((null, false), (never.ETag, never.RecordExists));
    }

    [Fact]
    public async Task DeleteStateOnClearRemovesTheRow()
    {
        var storage = Storage(ClusterFixture.DeletingStorageName);
        const string type = "DeletingContract";
        var key = $"d-{Guid.NewGuid():N}";
        var id = GrainId.Create("storage-contract", key);
        var state = new GrainState<CounterState>(new CounterState { Value = 7 });
        await storage.WriteStateAsync(type, id, state);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync(type, id, new GrainState<CounterState>(new CounterState()) { ETag = "5" }));

        await storage.ClearStateAsync(type, id, state);
        Assert.Equal((null, false), (state.ETag, state.RecordExists));
        Assert.Equal(0, await ScalarAsync<int>(cluster.ConnectionString, "SELECT count(*) FROM orleans_grain_state WHERE grain_id_ext = @k", ("k", key)));

        state.State!.Value = 8;
        await storage.WriteStateAsync(type, id, state);
        Assert.Equal("1", state.ETag);
    }

    [Fact]
    public async Task KeysOfEveryKindAreKeptApart()
    {
        var storage = Storage(ClusterFixture.StorageName);
        var type = GrainType.Create("storage-keys");
        var guid = Guid.NewGuid();
        var number = Random.Shared.NextInt64(1, long.MaxValue);
        var ids = new[]
        {
            GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(number)),
            GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(number, "x")),
            GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(number, "y")),
            GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid)),
            GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid, "x")),
            GrainId.Create(type, $"text-{guid:N}"),
            GrainId.Create(type, $"text-{guid:N}-{new string('z', 5000)}"),
        };

        for (var i = 0; i < ids.Length; i++)
        {
            var state = new GrainState<CounterState>(new CounterState { Value = 100 + i });
            await storage.WriteStateAsync("KeyKinds", ids[i], state);
            Assert.Equal("1", state.ETag);
        }

        for (var i = 0; i < ids.Length; i++)
        {
            var state = new GrainState<CounterState>(new CounterState());
            await storage.ReadStateAsync("KeyKinds", ids[i], state);
            Assert.Equal(100 + i, state.State!.Value);
        }

        // The same key under another grain type is another row.
        var other = new GrainState<CounterState>(new CounterState());
        await storage.ReadStateAsync("OtherKind", ids[0], other);
        Assert.False(other.RecordExists);
    }
}
