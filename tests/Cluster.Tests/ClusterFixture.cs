using System.Net;
using Agents.Silo.Postgres;
using Agents.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Agents.Cluster.Tests;

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "Cluster";
}

/// <summary>
/// Two silos (in-process hosts) and one external client, joined through ADO.NET clustering on a fresh PostgreSQL
/// database, with ADO.NET grain storage and ADO.NET reminders on the same database.
/// </summary>
public sealed class ClusterFixture(PostgresServer postgres) : IAsyncLifetime
{
    public const string StorageName = "store";
    public const string DeletingStorageName = "store-delete";
    public const string ClusterId = "cluster-tests";
    public const string ServiceId = "cluster-tests-service";

    private readonly List<IHost> _silos = [];
    private IHost? _client;

    /// <summary>The database the cluster runs on (plain connection string, for checks in SQL).</summary>
    public string ConnectionString { get; private set; } = "";

    public IReadOnlyList<IHost> Silos => _silos;

    public IClusterClient Client => _client!.Services.GetRequiredService<IClusterClient>();

    public IServiceProvider ClientServices => _client!.Services;

    public async ValueTask InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        ConnectionString = await postgres.CreateDatabaseAsync("cluster", timeout.Token);
        await OrleansPostgresSchema.ApplyAsync(ConnectionString, timeout.Token);
        var orleansConnection = TestSupport.ForOrleans(ConnectionString);

        for (var i = 0; i < 2; i++)
        {
            _silos.Add(BuildSilo(orleansConnection, $"silo-{i}"));
        }

        await Task.WhenAll(_silos.Select(s => s.StartAsync(timeout.Token)));

        var client = NewHostBuilder();
        client.UseOrleansClient(c => c
            .UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = orleansConnection;
            })
            .Configure<ClusterOptions>(o =>
            {
                o.ClusterId = ClusterId;
                o.ServiceId = ServiceId;
            }));
        _client = client.Build();

        // A client with no gateway up keeps retrying; bound it.
        await _client.StartAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await StopAsync(_client);
        }

        await Task.WhenAll(_silos.Select(StopAsync));
    }

    private static IHost BuildSilo(string connectionString, string name)
    {
        var builder = NewHostBuilder();
        builder.UseOrleans(silo =>
        {
            silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                })
                .ConfigureEndpoints(IPAddress.Loopback, TestSupport.FreePort(), TestSupport.FreePort())
                .Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = ClusterId;
                    o.ServiceId = ServiceId;
                })
                .Configure<SiloOptions>(o => o.SiloName = name)
                .AddAdoNetGrainStorage(StorageName, o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                })
                .AddAdoNetGrainStorage(DeletingStorageName, o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                    o.DeleteStateOnClear = true;
                })
                .UseAdoNetReminderService(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                })
                .Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        return builder.Build();
    }

    /// <summary>A host without the defaults: no appsettings.json from the output folder, no environment, warnings and errors only.</summary>
    private static HostApplicationBuilder NewHostBuilder()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        return builder;
    }

    private static async Task StopAsync(IHost host)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await host.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            host.Dispose();
        }
    }
}
