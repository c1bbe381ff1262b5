using System.Net;
using Agents.Grains.Agent;
using Agents.Grains.Conversations;
using Agents.Grains.Hosting;
using Agents.Grains.Storage;
using Agents.Silo.Observability;
using Agents.Silo.Postgres;
using Agents.Silo.Streaming;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Providers;
using Orleans.Storage;
using Orleans.Streams;

namespace Agents.Silo;

public static partial class AgentSiloExtensions
{
    /// <summary>
    /// Makes this process a silo that hosts conversations: the agent services, Orleans with the conversation
    /// stream provider, and the startup task that resumes unfinished runs.
    /// </summary>
    public static IHostApplicationBuilder AddAgentSilo(this IHostApplicationBuilder builder)
    {
        builder.AddAgentServices();
        builder.Services.AddOptions<OrleansHostOptions>().BindConfiguration(OrleansHostOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var orleans = builder.Configuration.GetSection(OrleansHostOptions.SectionName).Get<OrleansHostOptions>() ?? new OrleansHostOptions();
        var storage = builder.Configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        if (orleans.Mode == OrleansMode.Cluster)
        {
            if (storage.Provider != StorageProvider.Postgres)
            {
                throw new InvalidOperationException("Orleans:Mode=Cluster needs Storage:Provider=Postgres: the silos find each other through the database.");
            }

            // Reminders only where asked for: ResumeUnfinishedRuns wakes a dead silo's runs on the survivors.
            builder.Services.PostConfigure<AgentOptions>(o => o.ResumeReminderPeriod ??= orleans.ResumeReminderPeriod);

            // Orleans' own tables exist before the silo joins (hosted services start in order).
            builder.Services.AddHostedService<OrleansSchemaMigrator>();
        }

        builder.UseOrleans(silo =>
        {
            if (orleans.Mode == OrleansMode.Single)
            {
                // SQLite is no Orleans clustering or reminder provider: one node, in-memory providers; the event log is the durability.
                silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
                silo.Services.AddSingleton<SingleNodePubSubStore>();
                silo.Services.AddSingleton<IStreamPublishListener>(sp => sp.GetRequiredService<SingleNodePubSubStore>());
                silo.Services.AddKeyedSingleton<IGrainStorage>(AgentNames.PubSubStore, (sp, _) => sp.GetRequiredService<SingleNodePubSubStore>());
            }
            else
            {
                var connectionString = builder.Configuration.GetConnectionString(AgentNames.ConnectionStringName)
                    ?? throw new InvalidOperationException("Orleans:Mode=Cluster needs ConnectionStrings:Agents (PostgreSQL).");
                silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (orleans.ClusterId, orleans.ServiceId));
                silo.ConfigureEndpoints(
                    IPAddress.Parse(orleans.AdvertisedIPAddress ?? IPAddress.Loopback.ToString()),
                    orleans.SiloPort,
                    orleans.GatewayPort,
                    listenOnAnyHostAddress: orleans.AdvertisedIPAddress is not null);
                silo.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (PostgresInvariant, connectionString));
                silo.UseAdoNetReminderService(o => (o.Invariant, o.ConnectionString) = (PostgresInvariant, connectionString));
                silo.AddAdoNetGrainStorage(AgentNames.PubSubStore, o => (o.Invariant, o.ConnectionString) = (PostgresInvariant, connectionString));
                silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
                if (orleans.FailureDetection == FailureDetection.Fast)
                {
                    ConfigureFastFailureDetection(silo);
                }

                ConfigureGrainDirectory(silo);
                if (orleans.Kubernetes)
                {
                    // Pod IP, names and the cluster id from the pod's environment; pods of dead silos are noticed sooner.
                    silo.UseKubernetesHosting();
                }
            }

            // The stream's queues wait for an event instead of answering every poll at once (WaitingStreamQueueGrain).
            silo.Services.PostConfigure<GrainTypeOptions>(o => o.Classes.Remove(typeof(MemoryStreamQueueGrain)));
            silo.Services.AddSingleton<StreamQueueStop>();
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<StreamQueueStop>());
            silo.AddMemoryStreams(AgentNames.StreamProvider, streams =>
            {
                // Registered after AddMemoryStreams' own factory, so it is the one the provider resolves.
                streams.ConfigureComponent<IQueueAdapterFactory>((services, name) =>
                    new UncancelledQueueReads(MemoryAdapterFactory<DefaultMemoryMessageBodySerializer>.Create(services, name)));
                streams.ConfigurePullingAgent(agent => agent.Configure(o =>
                {
                    o.GetQueueMsgsTimerPeriod = orleans.StreamPollPeriod;
                    o.StreamInactivityPeriod = orleans.StreamInactivityPeriod;
                }));
                streams.ConfigureCacheEviction(eviction => eviction.Configure(o =>
                {
                    o.DataMaxAgeInCache = orleans.StreamCacheAge;
                    o.DataMinTimeInCache = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(10).Ticks, orleans.StreamCacheAge.Ticks));
                    // What the cache remembers of a stream whose messages it dropped (their last sequence token); Orleans
                    // keeps it 10 minutes, holding an entry for every conversation that spoke in that time.
                    o.MetadataMinTimeInCache = orleans.StreamCacheAge * 2;
                }));
            });
            silo.AddStartupTask<ResumeUnfinishedRuns>();
            silo.Configure<GrainCollectionOptions>(o => o.CollectionAge = orleans.IdleCollectionAge);

            // The caller's span (a hub or HTTP request) flows into grain calls, so a run's trace starts at the request.
            silo.AddActivityPropagation();
            silo.AddIncomingGrainCallFilter<StoreFailureFilter>();
            if (ObservabilityExtensions.IsDashboardEnabled(builder.Configuration))
            {
                silo.AddDashboard();
            }
        });

        return builder;
    }

    /// <summary>
    /// Declares a killed or hung silo dead in about 3 s instead of 10–20 s, so its conversations resume fast.
    /// The price: more probe traffic, and a silo stalled longer than that (a long GC pause, a saturated host) is
    /// declared dead too and has to rejoin. See docs/scaling.md.
    /// </summary>
    private static void ConfigureFastFailureDetection(ISiloBuilder silo)
    {
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.MinProbeTimeout = TimeSpan.FromMilliseconds(500);
            o.MaxProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
        });
    }

    private static void ConfigureGrainDirectory(ISiloBuilder silo)
    {
        // With the default directory, a silo's death also deactivated grains on the survivors, silently stopping
        // their loops. The distributed directory with no range lease does not; it gives up the lease's guard
        // against a duplicate activation after a wrong death declaration, which the event log's primary key
        // catches instead (the second writer's append fails and it deactivates).
#pragma warning disable ORLEANSEXP003 // Experimental in Orleans 10; chosen for the reason above.
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        silo.Configure<GrainDirectoryOptions>(o => o.RangeLeaseDuration = TimeSpan.Zero);
    }

    private const string PostgresInvariant = "Npgsql";

    /// <summary>
    /// Applies the whole schema idempotently: ours on the configured store and, on PostgreSQL, the tables and
    /// queries of Orleans' ADO.NET clustering, reminders and grain storage.
    /// </summary>
    public static async Task MigrateAsync(IConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var storage = configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        storage.ConnectionString = configuration.GetConnectionString(AgentNames.ConnectionStringName) ?? storage.ConnectionString;
        using var logging = LoggerFactory.Create(b => b.AddSimpleConsole());
        if (storage.Provider == StorageProvider.Postgres)
        {
            await using var store = new PostgresEventStore(Options.Create(storage), logging.CreateLogger<PostgresEventStore>());
            await store.MigrateAsync(cancellationToken);
            await OrleansPostgresSchema.ApplyAsync(storage.ConnectionString, cancellationToken);
        }
        else
        {
            await new SqliteEventStore(Options.Create(storage), logging.CreateLogger<SqliteEventStore>()).MigrateAsync(cancellationToken);
        }
    }

    private sealed class OrleansSchemaMigrator(IOptions<StorageOptions> storage) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => OrleansPostgresSchema.ApplyAsync(storage.Value.ConnectionString, cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
