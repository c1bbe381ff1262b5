using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Agents.Api.Tests;

/// <summary>The real app, built as <c>Program</c> builds it (<see cref="AgentApi.Build"/>), for a test.</summary>
internal static class TestApp
{
    /// <summary>
    /// The app on a free loopback port with <paramref name="settings"/> over its own configuration and quiet logs;
    /// <paramref name="configure"/> adds what else the test needs.
    /// </summary>
    public static WebApplication Build(IReadOnlyDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null) =>
        AgentApi.Build(
            [$"--contentRoot={Path.Combine(TestEnvironment.RepositoryRoot, "src", "Api")}"],
            builder =>
            {
                builder.WebHost.UseUrls("http://127.0.0.1:0");
                var effective = new Dictionary<string, string?>(GenerousLimits) { ["Logging:LogLevel:Default"] = "Warning" };
                foreach (var (key, value) in settings)
                {
                    effective[key] = value;
                }

                builder.Configuration.AddInMemoryCollection(effective);
                builder.Logging.SetMinimumLevel(LogLevel.Warning);
                configure?.Invoke(builder);
            });

    /// <summary>
    /// A single node of its own (a new SQLite file, free ports) with <paramref name="settings"/> on top, started for
    /// <paramref name="test"/> and stopped after it, however it ends.
    /// </summary>
    public static async Task RunSingleNodeAsync(IReadOnlyDictionary<string, string?> settings, Func<WebApplication, Task> test, CancellationToken cancellationToken)
    {
        var all = SingleNode(Path.Combine(TestEnvironment.NewTempDirectory(), "agents.db"));
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        await using var app = Build(all);
        await app.StartAsync(cancellationToken);
        try
        {
            await test(app);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(timeout.Token);
        }
    }

    /// <summary>
    /// Limits no ordinary test reaches (tests run many conversations as one user, fast); a test about the limits
    /// sets its own in <c>settings</c>, which win.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> GenerousLimits = new Dictionary<string, string?>
    {
        ["RateLimits:SendsPerMinute"] = "1000000",
        ["RateLimits:SendBurst"] = "1000000",
        ["RateLimits:ConversationsPerMinute"] = "1000000",
        ["RateLimits:ConversationBurst"] = "1000000",
        ["Agent:MaxRunningConversationsPerUser"] = "1000000",
    };

    /// <summary>The settings of a single node (the default mode) on its own SQLite file and free Orleans ports.</summary>
    public static Dictionary<string, string?> SingleNode(string database) => new()
    {
        ["ConnectionStrings:Agents"] = $"Data Source={database}",
        ["Orleans:SiloPort"] = TestEnvironment.FreePort().ToString(),
        ["Orleans:GatewayPort"] = TestEnvironment.FreePort().ToString(),
    };
}
