using Agents.Grains.Storage;
using Agents.Silo;
using Agents.Silo.Observability;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace Agents.Api.Hosting;

public static class OrleansHosting
{
    /// <summary>
    /// Joins Orleans as <c>Orleans:Mode</c> says. <c>Single</c> (default): this process is also the silo
    /// (<see cref="AgentSiloExtensions.AddAgentSilo"/>), one command runs everything. <c>Cluster</c>: this
    /// process is a gateway, an Orleans client of separate silos.
    /// </summary>
    /// <returns>The mode in force.</returns>
    public static OrleansMode AddAgentOrleans(this IHostApplicationBuilder builder)
    {
        var orleans = builder.Configuration.GetSection(OrleansHostOptions.SectionName).Get<OrleansHostOptions>() ?? new OrleansHostOptions();
        if (orleans.Mode == OrleansMode.Single)
        {
            builder.AddAgentSilo();
            return orleans.Mode;
        }

        builder.AddAgentOrleansClient(orleans);
        return orleans.Mode;
    }

    /// <summary>
    /// The gateway as an Orleans client of the cluster's silos, found through the database they register in
    /// (ADO.NET clustering on PostgreSQL, <c>ConnectionStrings:Agents</c>), with the conversation stream provider.
    /// It gives up after <c>Orleans:ConnectTimeout</c> (default 60 s) without a silo, rather than waiting forever.
    /// </summary>
    private static void AddAgentOrleansClient(this IHostApplicationBuilder builder, OrleansHostOptions orleans)
    {
        var storage = builder.Configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        if (storage.Provider != StorageProvider.Postgres)
        {
            throw new InvalidOperationException("Orleans:Mode=Cluster needs Storage:Provider=Postgres: gateways find the silos through the database.");
        }

        var connectionString = builder.Configuration.GetConnectionString(AgentNames.ConnectionStringName)
            ?? throw new InvalidOperationException("Orleans:Mode=Cluster needs ConnectionStrings:Agents (the PostgreSQL database the silos register in).");
        var connectTimeout = builder.Configuration.GetValue("Orleans:ConnectTimeout", TimeSpan.FromSeconds(60));
        var gateway = builder.Configuration.GetSection(Streaming.GatewayOptions.SectionName).Get<Streaming.GatewayOptions>() ?? new Streaming.GatewayOptions();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (orleans.ClusterId, orleans.ServiceId));
            // A silo killed without closing its sockets answers nothing: calls to it end after CallTimeout (Orleans'
            // 30 s would be a hang to a client), and its gateway endpoint leaves the list at the next refresh.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = gateway.CallTimeout);
            client.Configure<Orleans.Configuration.GatewayOptions>(o => o.GatewayListRefreshPeriod = gateway.GatewayListRefreshPeriod);
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (PostgresInvariant, connectionString));
            client.AddMemoryStreams(AgentNames.StreamProvider);
            client.AddActivityPropagation();
            if (ObservabilityExtensions.IsDashboardEnabled(builder.Configuration))
            {
                // Served here from the silos' data: they run the dashboard's grains too.
                client.AddDashboard();
            }

            DateTimeOffset? firstFailure = null;
            client.UseConnectionRetryFilter(async (exception, cancellationToken) =>
            {
                firstFailure ??= DateTimeOffset.UtcNow;
                if (DateTimeOffset.UtcNow - firstFailure >= connectTimeout)
                {
                    return false;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                return true;
            });
        });
    }

    private const string PostgresInvariant = "Npgsql";
}
