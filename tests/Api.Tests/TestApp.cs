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
                builder.Configuration.AddInMemoryCollection(
                    new Dictionary<string, string?>(settings) { ["Logging:LogLevel:Default"] = "Warning" });
                builder.Logging.SetMinimumLevel(LogLevel.Warning);
                configure?.Invoke(builder);
            });

    /// <summary>The settings of a single node (the default mode) on its own SQLite file and free Orleans ports.</summary>
    public static Dictionary<string, string?> SingleNode(string database) => new()
    {
        ["ConnectionStrings:Agents"] = $"Data Source={database}",
        ["Orleans:SiloPort"] = TestEnvironment.FreePort().ToString(),
        ["Orleans:GatewayPort"] = TestEnvironment.FreePort().ToString(),
    };
}
