using System.Net;
using Agents.Silo.Postgres;
using Agents.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Messaging;
using Orleans.Runtime.Membership;
using Orleans.Runtime.MembershipService;
using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

/// <summary>
/// The ADO.NET membership table and gateway list, driven directly on their own database and cluster id, so every
/// clustering query runs, including the ETag conflicts a live cluster rarely produces.
/// </summary>
public sealed class MembershipTableTests(PostgresServer postgres)
{
    private const string Cluster = "membership-contract";

    [Fact]
    public async Task MembershipTableFollowsTheProtocol()
    {
        var db = await postgres.CreateDatabaseAsync("membership", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        await using var services = BuildServices(ForOrleans(db));
        var table = ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(services);

        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, Cancellation);
        await ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(services).InitializeMembershipTableAsync(tryInitTableVersion: true, Cancellation);
        var empty = await table.ReadAllAsync(Cancellation);
        Assert.Empty(empty.Members);
        Assert.Equal(0, empty.Version.Version);

        // Insert: only against the current table version, and only once per silo.
        var a = Entry(11111, "a", SiloStatus.Joining);
        var b = Entry(11112, "b", SiloStatus.Joining, started: TimeSpan.FromHours(3));
        Assert.True(await table.InsertRowAsync(a, empty.Version.Next(), Cancellation));
        Assert.False(await table.InsertRowAsync(b, empty.Version.Next(), Cancellation));
        var one = await table.ReadAllAsync(Cancellation);
        Assert.Equal(1, one.Version.Version);
        Assert.False(await table.InsertRowAsync(a, one.Version.Next(), Cancellation));
        Assert.Equal(1, (await table.ReadAllAsync(Cancellation)).Version.Version);
        Assert.True(await table.InsertRowAsync(b, one.Version.Next(), Cancellation));

        var two = await table.ReadAllAsync(Cancellation);
        Assert.Equal(2, two.Version.Version);
        Assert.Equal(2, two.Members.Count);
        var readA = two.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress)).Item1;
        Assert.Equal((a.SiloName, a.HostName, a.Status, a.ProxyPort, a.StartTime, a.IAmAliveTime),
            (readA.SiloName, readA.HostName, readA.Status, readA.ProxyPort, readA.StartTime, readA.IAmAliveTime));
        Assert.Equal(DateTimeKind.Utc, readA.StartTime.Kind);

        // Update: status and suspicions, again only against the current version.
        a.Status = SiloStatus.Active;
        a.SuspectTimes = [Tuple.Create(b.SiloAddress, Micro(DateTime.UtcNow))];
        // (The provider hands out each row's ETag as the table version it was read with.)
        var rowETag = two.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress)).Item2;
        Assert.Equal(two.Version.VersionEtag, rowETag);
        Assert.False(await table.UpdateRowAsync(a, one.Version.VersionEtag, one.Version.Next(), Cancellation));
        Assert.True(await table.UpdateRowAsync(a, rowETag, two.Version.Next(), Cancellation));
        var three = await table.ReadRowAsync(a.SiloAddress, Cancellation);
        Assert.Equal(3, three.Version.Version);
        var updated = Assert.Single(three.Members).Item1;
        Assert.Equal(SiloStatus.Active, updated.Status);
        var suspicion = Assert.Single(updated.SuspectTimes ?? []);
        Assert.Equal(b.SiloAddress, suspicion.Item1);
        Assert.True((suspicion.Item2 - a.SuspectTimes[0].Item2).Duration() < TimeSpan.FromSeconds(1));

        // I-am-alive moves the time but not the version.
        a.IAmAliveTime = Micro(DateTime.UtcNow.AddSeconds(5));
        await table.UpdateIAmAliveAsync(a, Cancellation);
        var alive = await table.ReadRowAsync(a.SiloAddress, Cancellation);
        Assert.Equal(3, alive.Version.Version);
        Assert.Equal(a.IAmAliveTime, alive.Members.Single().Item1.IAmAliveTime);

        // A silo with no row: the version, no members.
        var nobody = await table.ReadRowAsync(SiloAddress.New(IPAddress.Loopback, 1, 1), Cancellation);
        Assert.Equal(3, nobody.Version.Version);
        Assert.Empty(nobody.Members);

        // Gateways: active silos only.
        var gateways = ActivatorUtilities.CreateInstance<AdoNetGatewayListProvider>(services);
        await gateways.InitializeGatewayListProviderAsync(Cancellation);
        var uri = Assert.Single(await gateways.GetGatewaysAsync(Cancellation));
        Assert.Equal(SiloAddress.New(IPAddress.Loopback, a.ProxyPort, a.SiloAddress.Generation).ToGatewayUri(), uri);

        // Clean-up of defunct silos removes dead rows older than the date, nothing else.
        b.Status = SiloStatus.Dead;
        b.IAmAliveTime = Micro(DateTime.UtcNow.AddHours(-2));
        b.SuspectTimes = [Tuple.Create(a.SiloAddress, Micro(DateTime.UtcNow.AddHours(-2)))];
        Assert.True(await table.UpdateRowAsync(b, alive.Version.VersionEtag, alive.Version.Next(), Cancellation));
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddHours(-2.5), Cancellation);
        Assert.Equal(2, (await table.ReadAllAsync(Cancellation)).Members.Count);
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddHours(-1), Cancellation);
        var afterCleanup = await table.ReadAllAsync(Cancellation);
        Assert.Equal(a.SiloAddress, Assert.Single(afterCleanup.Members).Item1.SiloAddress);

        // Deleting the cluster's entries leaves nothing; initialising again starts over at version 0.
        await table.DeleteMembershipTableEntriesAsync(Cluster, Cancellation);
        Assert.Equal(0, await ScalarAsync<int>(db, "SELECT count(*) FROM orleans_membership WHERE cluster_id = @c", ("c", Cluster)));
        Assert.Equal(0, await ScalarAsync<int>(db, "SELECT count(*) FROM orleans_membership_version WHERE cluster_id = @c", ("c", Cluster)));
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, Cancellation);
        Assert.Equal(0, (await table.ReadAllAsync(Cancellation)).Version.Version);
    }

    [Fact]
    public async Task ConcurrentUpdatesAgainstOneVersionLetExactlyOneWin()
    {
        var db = await postgres.CreateDatabaseAsync("membership", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        await using var services = BuildServices(ForOrleans(db));
        var table = ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(services);
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, Cancellation);

        var version = (await table.ReadAllAsync(Cancellation)).Version;
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => table.InsertRowAsync(Entry(20000 + i, $"s{i}", SiloStatus.Joining), version.Next(), Cancellation)));
        Assert.Equal(1, results.Count(ok => ok));
        var after = await table.ReadAllAsync(Cancellation);
        Assert.Single(after.Members);
        Assert.Equal(version.Version + 1, after.Version.Version);
    }

    [Fact]
    public async Task CleanupFallsBackToTheBulkQueryWithoutTheOptionalKey()
    {
        var db = await postgres.CreateDatabaseAsync("membership", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        await ExecuteAsync(db, "DELETE FROM OrleansQuery WHERE QueryKey = 'CleanupDefunctSiloEntryKey'");
        await using var services = BuildServices(ForOrleans(db));
        var table = ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(services);
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, Cancellation);

        var dead = Entry(30000, "dead", SiloStatus.Dead, started: TimeSpan.FromHours(3));
        dead.IAmAliveTime = Micro(DateTime.UtcNow.AddHours(-2));
        var alive = Entry(30001, "alive", SiloStatus.Active);
        Assert.True(await table.InsertRowAsync(dead, (await table.ReadAllAsync(Cancellation)).Version.Next(), Cancellation));
        Assert.True(await table.InsertRowAsync(alive, (await table.ReadAllAsync(Cancellation)).Version.Next(), Cancellation));

        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddHours(-1), Cancellation);

        Assert.Equal(alive.SiloAddress, Assert.Single((await table.ReadAllAsync(Cancellation)).Members).Item1.SiloAddress);
    }

    private static ServiceProvider BuildServices(string connectionString)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = Cluster;
            o.ServiceId = Cluster;
        });
        services.Configure<GatewayOptions>(_ => { });
        services.Configure<AdoNetClusteringSiloOptions>(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        services.Configure<AdoNetClusteringClientOptions>(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        return services.BuildServiceProvider();
    }

    private static MembershipEntry Entry(int port, string name, SiloStatus status, TimeSpan started = default)
    {
        var now = Micro(DateTime.UtcNow);
        return new MembershipEntry
        {
            SiloAddress = SiloAddress.New(IPAddress.Loopback, port, 7),
            SiloName = name,
            HostName = $"host-{name}",
            Status = status,
            ProxyPort = port + 1000,
            StartTime = now - (started == default ? TimeSpan.FromSeconds(1) : started),
            IAmAliveTime = now,
        };
    }

    /// <summary>PostgreSQL keeps microseconds; compare at that precision.</summary>
    private static DateTime Micro(DateTime time) => new(time.Ticks - (time.Ticks % 10), DateTimeKind.Utc);
}
