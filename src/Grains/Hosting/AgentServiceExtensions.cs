using Agents.Grains.Agent;
using Agents.Grains.Agent.Mcp;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Agent.Tools.Web;
using Agents.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Hosting;

public static class AgentServiceExtensions
{
    /// <summary>
    /// The services a silo's conversations need: options, the store and its group-commit writer, the schema
    /// migration at start, the kernel with its tools, and the model.
    /// </summary>
    public static IHostApplicationBuilder AddAgentServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AgentOptions>().BindConfiguration(AgentOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => Enum.IsDefined(o.Provider), "Llm:Provider must be Demo or OpenAI.")
            .Validate(o => o.Provider != ModelProvider.OpenAI || (o.Endpoint is not null || !string.IsNullOrEmpty(o.ApiKey)) && !string.IsNullOrEmpty(o.Model),
                "Llm:Provider=OpenAI needs Llm:Model and Llm:Endpoint (or Llm:ApiKey for api.openai.com).")
            .ValidateOnStart();
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.SectionName)
            .Configure<IConfiguration>((o, configuration) =>
                o.ConnectionString = configuration.GetConnectionString(AgentNames.ConnectionStringName) ?? o.ConnectionString)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<DemoSite>();
        var storage = builder.Configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        switch (storage.Provider)
        {
            case StorageProvider.Sqlite:
                services.TryAddSingleton<SqliteEventStore>();
                services.TryAddSingleton<IEventStore>(sp => sp.GetRequiredService<SqliteEventStore>());
                break;
            case StorageProvider.Postgres:
                services.TryAddSingleton<IEventStore, PostgresEventStore>();
                break;
            default:
                throw new InvalidOperationException($"Storage:Provider={storage.Provider} is unknown; use Sqlite or Postgres.");
        }

        // Hosted services start in order: the schema exists before the writer and the silo start.
        services.AddHostedService<SchemaMigrator>();
        services.AddSingleton<EventLogWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<EventLogWriter>());
        if (storage.Provider == StorageProvider.Sqlite && storage.SqliteCheckpointPeriod > TimeSpan.Zero)
        {
            services.AddHostedService<SqliteCheckpointer>();
        }

        var kernel = services.AddKernel();
        kernel.Plugins.AddFromType<UserInputPlugin>(UserInputPlugin.PluginName);
        if (builder.Configuration.GetValue("Agent:Subagents", true))
        {
            kernel.Plugins.AddFromType<SubagentPlugin>("subagents");
        }
        if (builder.Configuration.GetValue("Agent:DemoTools", true))
        {
            kernel.Plugins.AddFromType<DemoPlugin>(DemoPlugin.PluginName);
        }

        builder.AddWebTools();
        builder.AddMcpTools();

        var llm = builder.Configuration.GetSection(LlmOptions.SectionName).Get<LlmOptions>() ?? new LlmOptions();
        if (llm.Provider == ModelProvider.OpenAI)
        {
            if (llm.Endpoint is not null)
            {
                services.AddOpenAIChatCompletion(llm.Model ?? "", llm.Endpoint, llm.ApiKey);
            }
            else
            {
                services.AddOpenAIChatCompletion(llm.Model ?? "", llm.ApiKey ?? "");
            }
        }
        else
        {
            services.TryAddSingleton<IChatCompletionService, DemoChatCompletionService>();
        }

        return builder;
    }

    private sealed class SchemaMigrator(IEventStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.MigrateAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
