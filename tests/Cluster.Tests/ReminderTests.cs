using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ReminderTests(ClusterFixture cluster)
{
    [Fact]
    public async Task RemindersRegisterFireListAndUnregister()
    {
        const string key = "reminder-1";
        var grain = cluster.Client.GetGrain<IReminderGrain>(key);
        await grain.StartAsync("tick", TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        await grain.StartAsync("slow", TimeSpan.FromHours(1), TimeSpan.FromHours(1));

        Assert.Equal(["slow", "tick"], await grain.ListAsync());
        Assert.Equal(2, await ScalarAsync<int>(cluster.ConnectionString,
            "SELECT count(*) FROM orleans_reminder WHERE service_id = @s AND grain_id LIKE @g",
            ("s", ClusterFixture.ServiceId), ("g", $"%/{key}")));

        await WaitUntilAsync(() => ReminderGrain.TicksOf(key, "tick") >= 2, TimeSpan.FromSeconds(15), "the reminder fired twice");

        Assert.True(await grain.StopAsync("tick"));
        Assert.False(await grain.StopAsync("tick"));
        Assert.Equal(["slow"], await grain.ListAsync());
        Assert.Equal(1, await ScalarAsync<int>(cluster.ConnectionString,
            "SELECT count(*) FROM orleans_reminder WHERE service_id = @s AND grain_id LIKE @g",
            ("s", ClusterFixture.ServiceId), ("g", $"%/{key}")));

        // No more ticks once unregistered (a tick already on its way may still land right after).
        await Task.Delay(300, Cancellation);
        var settled = ReminderGrain.TicksOf(key, "tick");
        await Task.Delay(1500, Cancellation);
        Assert.Equal(settled, ReminderGrain.TicksOf(key, "tick"));

        Assert.True(await grain.StopAsync("slow"));
        Assert.Empty(await grain.ListAsync());
    }
}
