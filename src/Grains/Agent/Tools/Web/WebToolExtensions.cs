using System.Net;
using System.Net.Http;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Polly;

namespace Agents.Grains.Agent.Tools.Web;

public static class WebToolExtensions
{
    /// <summary>
    /// Offers <c>fetch_url</c> (plugin <c>web</c>) when <c>Tools:FetchUrl:Enabled</c> is true: its options, validated on
    /// start, the guard, and a named <see cref="HttpClient"/> whose connections go through the guard.
    /// </summary>
    public static IHostApplicationBuilder AddWebTools(this IHostApplicationBuilder builder)
    {
        if (!builder.Configuration.GetValue($"{FetchUrlOptions.SectionName}:Enabled", false))
        {
            return builder;
        }

        // Pages in windows-1252, Shift_JIS and the like decode properly only with the code pages registered, and
        // AngleSharp remembers at first use which encodings exist.
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

        var services = builder.Services;
        services.AddOptions<FetchUrlOptions>().BindConfiguration(FetchUrlOptions.SectionName).ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<FetchUrlOptions>, ProblemValidator>();
        services.TryAddSingleton<HostResolver>();
        services.TryAddSingleton<FetchUrlGuard>();

        services.AddHttpClient(WebPlugin.HttpClientName)
            .ConfigureHttpClient((sp, client) =>
            {
                // The plugin's own token bounds the whole fetch, the body included.
                client.Timeout = Timeout.InfiniteTimeSpan;
                client.DefaultRequestHeaders.UserAgent.ParseAdd(sp.GetRequiredService<IOptions<FetchUrlOptions>>().Value.UserAgent);
                client.DefaultRequestHeaders.Accept.ParseAdd("text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.1");
            })
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                // Each hop is checked by the plugin, so the handler must not follow any itself.
                AllowAutoRedirect = false,
                // A proxy would make the connect callback check the proxy's address instead of the target's.
                UseProxy = false,
                UseCookies = false,
                AutomaticDecompression = DecompressionMethods.All,
                ConnectCallback = sp.GetRequiredService<FetchUrlGuard>().ConnectAsync,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            })
            .AddStandardResilienceHandler()
            .Configure((resilience, sp) =>
            {
                var timeout = sp.GetRequiredService<IOptions<FetchUrlOptions>>().Value.Timeout;
                resilience.TotalRequestTimeout.Timeout = timeout;
                resilience.AttemptTimeout.Timeout = timeout;
                resilience.CircuitBreaker.SamplingDuration = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, timeout.Ticks * 2));
                // A refused address is refused again on every try.
                resilience.Retry.ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is not HttpRequestException { InnerException: FetchUrlException }
                    && HttpClientResiliencePredicates.IsTransient(args.Outcome));
            })
            // One circuit per site: a site that is down must not stop the agent reading the others.
            .SelectPipelineByAuthority();

        services.AddSingleton<KernelPlugin>(sp => KernelPluginFactory.CreateFromType<WebPlugin>(WebPlugin.PluginName, sp));
        return builder;
    }

    private sealed class ProblemValidator : IValidateOptions<FetchUrlOptions>
    {
        public ValidateOptionsResult Validate(string? name, FetchUrlOptions options) =>
            options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }
}
