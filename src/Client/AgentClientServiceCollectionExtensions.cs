using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Client;

/// <summary>Registers <see cref="AgentClient"/> with dependency injection.</summary>
public static class AgentClientServiceCollectionExtensions
{
    /// <summary>The name of the <c>HttpClient</c> whose handlers (<c>IHttpClientFactory</c>) the client's connection uses.</summary>
    public const string HttpClientName = "Agents.Client";

    /// <summary>
    /// Adds one <see cref="AgentClient"/> (a singleton: one connection for the process) configured from the
    /// <c>AgentClient</c> section and <paramref name="configure"/>, validated at start. Its connection's HTTP handler
    /// comes from <c>IHttpClientFactory</c> under <see cref="HttpClientName"/>, so handlers added there (resilience,
    /// logging, a proxy) apply; the returned builder adds them.
    /// </summary>
    public static IHttpClientBuilder AddAgentClient(this IServiceCollection services, Action<AgentClientOptions>? configure = null)
    {
        var options = services.AddOptions<AgentClientOptions>()
            .Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection(AgentClientOptions.SectionName).Bind(o))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddSingleton(sp => new AgentClient(
            sp.GetRequiredService<IOptions<AgentClientOptions>>().Value,
            () => sp.GetRequiredService<IHttpMessageHandlerFactory>().CreateHandler(HttpClientName),
            sp.GetService<ILogger<AgentClient>>(),
            sp.GetService<TimeProvider>()));
        return services.AddHttpClient(HttpClientName);
    }
}
