using System.ComponentModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;

namespace Agents.FakeOpenAI;

/// <summary>
/// A tiny MCP server over stdio (<c>Agents.FakeOpenAI --mcp-stdio</c>), so tests can configure an MCP server by
/// Command and Arguments as an operator would. Its stdout carries the protocol only; logs go to stderr.
/// </summary>
public static class FakeMcpStdioServer
{
    public const string Argument = "--mcp-stdio";

    public static async Task RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddMcpServer(o => o.ServerInfo = new() { Name = "fake-stdio", Version = "1.0" })
            .WithStdioServerTransport()
            .WithTools<TextTools>();
        await builder.Build().RunAsync();
    }

    [McpServerToolType]
    public sealed class TextTools
    {
        [McpServerTool(Name = "shout", ReadOnly = true), Description("Returns the text in capitals, with the id of the process that served it.")]
        public static string Shout([Description("The text.")] string text) => $"{text.ToUpperInvariant()} (pid {Environment.ProcessId})";
    }
}
