using Agents.Api.Apis;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Api.Hubs;
using Agents.Api.Identity;
using Agents.Api.Protocols;
using Agents.Api.RateLimiting;
using Agents.Api.Streaming;
using Agents.Silo;
using Agents.Silo.Health;
using Agents.Silo.Observability;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Agents.Api;

/// <summary>
/// The gateway: the contract's hub and HTTP API over the conversation grains, the stream bridge, identity and
/// the web client. <see cref="Build"/> is shared by <c>Program</c> and the tests, so both run the same app.
/// </summary>
public static class AgentApi
{
    /// <summary>Builds the app; <paramref name="configure"/> runs first (tests add configuration there).</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = DefaultContentRoot(args) });
        configure?.Invoke(builder);
        builder.AddAgentApi();
        var app = builder.Build();
        app.MapAgentApi();
        return app;
    }

    /// <summary>
    /// The content root (where <c>appsettings.json</c> and <c>wwwroot</c> are) when none is given: the current
    /// directory as usual (<c>dotnet run</c> runs in the project), but the binaries' directory when the current one
    /// has no web client, so <c>dotnet path/to/Agents.Api.dll</c> works from anywhere.
    /// </summary>
    private static string? DefaultContentRoot(string[] args)
    {
        var given = args.Any(a => a.StartsWith("--contentRoot", StringComparison.OrdinalIgnoreCase))
            || Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT") is { Length: > 0 }
            || Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT") is { Length: > 0 };
        if (given || Directory.Exists(Path.Combine(Directory.GetCurrentDirectory(), "wwwroot")))
        {
            return null;
        }

        return Directory.Exists(Path.Combine(AppContext.BaseDirectory, "wwwroot")) ? AppContext.BaseDirectory : null;
    }

    /// <summary>
    /// <c>Agents.Api migrate</c>: applies the database schema (ours, and Orleans' own on PostgreSQL) exactly as
    /// <c>Agents.Silo migrate</c> does, idempotently, and returns 0.
    /// </summary>
    public static async Task<int> MigrateAsync(string[] args)
    {
        var configuration = WebApplication.CreateBuilder(args).Configuration;
        await AgentSiloExtensions.MigrateAsync(configuration);
        Console.WriteLine("Schema is up to date.");
        return 0;
    }

    public static WebApplicationBuilder AddAgentApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddAgentObservability();
        DemoPagesApi.AddDemoDefaults(builder.Configuration);
        var mode = builder.AddAgentOrleans();
        builder.AddAgentIdentity(singleNode: mode == OrleansMode.Single);

        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var gateway = builder.Configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions();

        // Registered after Orleans, so it stops (and unsubscribes) before the silo does.
        services.AddSingleton<StreamHandleCache>();
        services.AddSingleton<ConversationFeeds>();
        services.AddHostedService(sp => sp.GetRequiredService<ConversationFeeds>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<GrainCalls>();
        services.AddSingleton<ConversationGateway>();
        services.AddSingleton<ChatConversations>();
        services.AddUserRateLimits();

        services.AddProblemDetails(o => o.CustomizeProblemDetails = ConversationProblems.Customize);
        services.AddExceptionHandler<ConversationProblems.ExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));

        services.AddSingleton<IUserIdProvider, SubjectUserIdProvider>();
        services.AddSignalR(o =>
            {
                o.MaximumReceiveMessageSize = gateway.MaxHubMessageBytes;
                o.AddFilter<ConversationErrorsFilter>();
                o.AddFilter<UserRateLimitFilter>();
            })
            .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
            .AddArgumentErrorCodes();

        var health = services.AddHealthChecks().AddCheck<ReadinessCheck>("orleans", tags: [ReadinessCheck.Tag]);
        if (mode == OrleansMode.Single)
        {
            // The co-hosted silo's own readiness: a member of its cluster, its database taking writes.
            health.AddSiloReadiness();
        }
        return builder;
    }

    public static WebApplication MapAgentApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseAuthentication();
        app.UseUserLogScope();
        app.UseAuthorization();
        // After authentication: the limits are per user.
        app.UseRateLimiter();

        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadinessCheck.Tag) });
        app.MapAgentObservability();
        app.MapDevTokenApi();
        app.MapConversationsApi();
        app.MapUiChatApi();
        app.MapAgUiApi();
        app.MapDemoPages();
        // A connection lives no longer than the token it was opened with.
        app.MapHub<AgentHub>(AgentHub.Path, o => o.CloseOnAuthenticationExpiration = true);

        var issuer = app.Services.GetRequiredService<TokenIssuer>();
        if (issuer.IsKeyGenerated)
        {
            app.Logger.LogWarning("Auth:SigningKey is not set: tokens are signed with a key made at start and die with this process.");
        }

        return app;
    }
}
