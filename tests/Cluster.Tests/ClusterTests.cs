using Microsoft.Extensions.DependencyInjection;
using Orleans.Messaging;
using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task BothSilosBecomeActiveAndSeeEachOther()
    {
        var addresses = cluster.Silos.Select(s => s.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress).ToHashSet();
        Assert.Equal(2, addresses.Count);

        foreach (var silo in cluster.Silos)
        {
            var membership = silo.Services.GetRequiredService<IClusterMembershipService>();
            await WaitUntilAsync(
                () => membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet().SetEquals(addresses),
                Timeout,
                $"{silo.Services.GetRequiredService<ILocalSiloDetails>().Name} sees both silos active");
        }

        Assert.Equal(2, await ScalarAsync<int>(cluster.ConnectionString,
            "SELECT count(*) FROM orleans_membership WHERE cluster_id = @c AND status = 3", ("c", ClusterFixture.ClusterId)));
        Assert.True(await ScalarAsync<int>(cluster.ConnectionString,
            "SELECT version FROM orleans_membership_version WHERE cluster_id = @c", ("c", ClusterFixture.ClusterId)) >= 2);
    }

    [Fact]
    public async Task ExternalClientFindsBothGatewaysAndCallsGrains()
    {
        var gateways = cluster.ClientServices.GetRequiredService<IGatewayListProvider>();
        await WaitUntilAsync(async () => (await gateways.GetGateways()).Count == 2, Timeout, "the client lists both gateways");

        var silos = cluster.Silos.Select(s => s.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString()).ToHashSet();
        foreach (var key in Enumerable.Range(0, 10).Select(i => $"ping-{i}"))
        {
            Assert.Contains(await cluster.Client.GetGrain<IPingGrain>(key).PingAsync(), silos);
        }

        var hosts = await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, Cancellation);
        Assert.Equal(silos, hosts.Keys.Select(k => k.ToString()).ToHashSet());
    }
}
