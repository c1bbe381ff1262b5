using System.Net;
using Agents.Grains.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Dashboard;
using Orleans.Diagnostics;

namespace Agents.Silo.Observability;

/// <summary>
/// OpenTelemetry for the silo process and the gateway alike: traces of requests, grain calls, runs, model and
/// tool calls, database commands; metrics of ours, Orleans', ASP.NET Core's and the runtime's; logs with their scopes.
/// </summary>
public static class ObservabilityExtensions
{
    /// <summary>The gateway's meter (watchers, replays).</summary>
    public const string GatewayMeterName = "Agents.Gateway";

    /// <summary>Orleans' meter.</summary>
    public const string OrleansMeterName = "Microsoft.Orleans";

    /// <summary>The name of the authorization policy in front of the Orleans dashboard.</summary>
    public const string DashboardPolicy = "orleans-dashboard";

    /// <summary>ASP.NET Core's span per hub method invocation.</summary>
    private const string SignalRServerSource = "Microsoft.AspNetCore.SignalR.Server";

    private const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IHostApplicationBuilder AddAgentObservability(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ObservabilityOptions>().BindConfiguration(ObservabilityOptions.SectionName);
        var options = Read(builder.Configuration);

        var otlpFromEnvironment = builder.Configuration[OtlpEndpointVariable] is { Length: > 0 };
        var otlp = otlpFromEnvironment || options.Otlp.Endpoint is { Length: > 0 };
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Environment.ApplicationName));
        if (options.Tracing ?? (otlp || options.Console))
        {
            telemetry.WithTracing(tracing =>
            {
                tracing
                    .AddSource(AgentTelemetry.Name, SignalRServerSource)
                    .AddSource(
                        options.OrleansRuntimeSpans
                            ? [ActivitySources.AllActivitySourceName]
                            : [ActivitySources.ApplicationGrainActivitySourceName, ActivitySources.LifecycleActivitySourceName, ActivitySources.StorageActivitySourceName])
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsProbe(http.Request.Path))
                    .AddHttpClientInstrumentation()
                    .AddNpgsql();
                if (options.Console)
                {
                    tracing.AddConsoleExporter();
                }
            });
        }

        telemetry
            .WithMetrics(metrics =>
            {
                // Created here: the gauge exists once its static class is touched.
                _ = ProcessTelemetry.LiveHeap;
                metrics
                    .AddMeter(AgentTelemetry.Name, GatewayMeterName, OrleansMeterName, "System.Runtime", ProcessTelemetry.Name)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation();
                if (options.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (options.Console)
                {
                    metrics.AddConsoleExporter();
                }
            });

        // Logs go to the collector with their scopes (ConversationId, RunId, UserId) and the trace they belong to.
        builder.Logging.AddOpenTelemetry(o => (o.IncludeScopes, o.IncludeFormattedMessage) = (true, true));
        if (otlpFromEnvironment)
        {
            // Endpoint, protocol and headers from the standard OTEL_EXPORTER_OTLP_* variables.
            telemetry.UseOtlpExporter();
        }
        else if (options.Otlp.Endpoint is { Length: > 0 } endpoint)
        {
            telemetry.UseOtlpExporter(OtlpExportProtocol.Grpc, new Uri(endpoint));
        }

        if (options.Dashboard.Enabled)
        {
            builder.Services.AddAuthorizationBuilder().AddPolicy(DashboardPolicy, policy => policy.RequireAssertion(IsLocalOrAuthenticated));
        }

        return builder;
    }

    /// <summary>Whether the dashboard is on; the Orleans builders call <c>AddDashboard</c> when it is.</summary>
    public static bool IsDashboardEnabled(IConfiguration configuration) => Read(configuration).Dashboard.Enabled;

    /// <summary>
    /// Maps <c>/metrics</c> (unless <c>Observability:Prometheus=false</c>) and, when enabled, the Orleans dashboard,
    /// which answers only requests from this machine (the connection's address, not the Host header) or with a
    /// valid token.
    /// </summary>
    public static IEndpointRouteBuilder MapAgentObservability(this IEndpointRouteBuilder endpoints)
    {
        var options = Read(endpoints.ServiceProvider.GetRequiredService<IConfiguration>());
        if (options.Prometheus)
        {
            endpoints.MapPrometheusScrapingEndpoint("/metrics");
        }

        if (options.Dashboard.Enabled)
        {
            endpoints.MapOrleansDashboard(options.Dashboard.Path).RequireAuthorization(DashboardPolicy);
        }

        return endpoints;
    }

    private static bool IsLocalOrAuthenticated(Microsoft.AspNetCore.Authorization.AuthorizationHandlerContext context) =>
        context.User.Identity?.IsAuthenticated == true
        || (context.Resource is HttpContext http && http.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address));

    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");

    private static ObservabilityOptions Read(IConfiguration configuration) =>
        configuration.GetSection(ObservabilityOptions.SectionName).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
}
