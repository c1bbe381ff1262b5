using Agents.Grains.Agent.Tools;
using Agents.Grains.Agent.Tools.Web;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Mcp;

public static class McpServiceExtensions
{
    /// <summary>
    /// Offers the tools of the MCP servers configured under <c>Mcp:Servers</c>: one kernel plugin per server, named
    /// after it, whose functions call the server's tools. The conversation treats them as any other tool: the
    /// approval list (<c>Agent:RequireApproval</c>) matches their names, and <c>Agent:ToolTimeout</c> bounds each call.
    /// </summary>
    /// <exception cref="InvalidOperationException">A server is configured with neither or both of Command and Url, or its name collides.</exception>
    public static IHostApplicationBuilder AddMcpTools(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(McpOptions.SectionName).Get<McpOptions>() ?? new McpOptions();
        var taken = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { UserInputPlugin.PluginName, DemoPlugin.PluginName, WebPlugin.PluginName };
        var servers = new List<McpServerRegistration>();
        foreach (var (name, server) in options.Servers.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (!server.Enabled)
            {
                continue;
            }

            if (string.IsNullOrWhiteSpace(server.Command) == (server.Url is null))
            {
                throw new InvalidOperationException($"Mcp:Servers:{name} needs either Command (stdio) or Url (streamable HTTP), not both or neither.");
            }

            if (server.Url is { IsAbsoluteUri: false } or { Scheme: not ("http" or "https") })
            {
                throw new InvalidOperationException($"Mcp:Servers:{name}:Url must be an absolute http or https URL.");
            }

            var pluginName = McpToolFunctions.Sanitize(name);
            if (!taken.Add(pluginName))
            {
                throw new InvalidOperationException($"Mcp:Servers:{name} would be the plugin '{pluginName}', a name already in use; rename the server.");
            }

            var plugin = new McpToolPlugin(pluginName, name);
            servers.Add(new McpServerRegistration(name, server, plugin));
            // The kernel of every conversation collects the registered plugins; this one is filled in on connect.
            builder.Services.AddSingleton<KernelPlugin>(plugin);
        }

        if (servers.Count > 0)
        {
            builder.Services.AddHostedService(sp => new McpToolConnector(
                servers,
                options.ConnectTimeout,
                sp.GetRequiredService<ILoggerFactory>(),
                sp.GetRequiredService<ILogger<McpToolConnector>>()));
        }

        return builder;
    }
}
