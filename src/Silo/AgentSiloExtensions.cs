using Agents.Grains.Hosting;
using Agents.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
        if (orleans.Mode != OrleansMode.Single)
        {
            throw new InvalidOperationException("Orleans:Mode=Cluster needs Storage:Provider=Postgres, which this build does not have yet; use Single.");
        }

        builder.UseOrleans(silo =>
        {
            // SQLite is no Orleans clustering or reminder provider: one node, in-memory providers; the event log is the durability.
            silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
            silo.AddMemoryStreams(AgentNames.StreamProvider);
            silo.AddMemoryGrainStorage(AgentNames.PubSubStore);
            silo.AddStartupTask<ResumeUnfinishedRuns>();
        });

        return builder;
    }

    /// <summary>
    /// On start, wakes every conversation whose run has not ended, so no run waits for a client to come back.
    /// Runs in the background: a silo with many of them is up at once, and they resume as fast as the store allows.
    /// </summary>
    private sealed partial class ResumeUnfinishedRuns(IEventStore store, IGrainFactory grains, IHostApplicationLifetime lifetime, ILogger<ResumeUnfinishedRuns> logger)
        : IStartupTask
    {
        public Task Execute(CancellationToken cancellationToken)
        {
            _ = Task.Run(() => WakeAllAsync(lifetime.ApplicationStopping), CancellationToken.None);
            return Task.CompletedTask;
        }

        private async Task WakeAllAsync(CancellationToken stopping)
        {
            try
            {
                var ids = await store.ListUnfinishedAsync(stopping);
                LogWaking(ids.Count);
                await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = stopping }, async (id, ct) =>
                {
                    try
                    {
                        await grains.GetGrain<IConversationGrain>(id).WakeAsync(ct);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogWakeFailed(ex, id);
                    }
                });
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                LogWakeFailed(ex, "*");
            }
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Resuming {Count} conversations with unfinished runs")]
        private partial void LogWaking(int count);

        [LoggerMessage(Level = LogLevel.Error, Message = "Could not wake conversation {ConversationId}")]
        private partial void LogWakeFailed(Exception exception, string conversationId);
    }
}
