using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Agents.Grains.Agent.Mcp;

/// <summary>One configured server and the plugin its tools go into.</summary>
internal sealed record McpServerRegistration(string Name, McpServerOptions Options, McpToolPlugin Plugin);

/// <summary>
/// Connects to the configured MCP servers when the host starts (before the silo, so a resumed run finds its
/// tools), lists their tools into their plugins, and closes the connections (and stdio processes) on stop.
/// A server that fails or does not answer within <see cref="McpOptions.ConnectTimeout"/> is logged and skipped:
/// its plugin stays empty and the agent works without it.
/// </summary>
internal sealed partial class McpToolConnector(
    IReadOnlyList<McpServerRegistration> servers,
    TimeSpan connectTimeout,
    ILoggerFactory loggerFactory,
    ILogger<McpToolConnector> logger) : IHostedService, IAsyncDisposable
{
    private readonly List<McpClient> _clients = [];

    public Task StartAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(servers.Select(server => ConnectAsync(server, cancellationToken)));

    public Task StopAsync(CancellationToken cancellationToken) => DisposeClientsAsync().AsTask();

    public ValueTask DisposeAsync() => DisposeClientsAsync();

    private async Task ConnectAsync(McpServerRegistration server, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connectTimeout);
        McpClient? client = null;
        try
        {
            client = await McpClient.CreateAsync(
                CreateTransport(server),
                new McpClientOptions { ClientInfo = new Implementation { Name = "agents", Version = "1.0" } },
                loggerFactory,
                timeout.Token);
            var tools = await client.ListToolsAsync(cancellationToken: timeout.Token);
            var functions = McpToolFunctions.Create(client, server.Plugin, server.Options, tools,
                (tool, reason) => LogToolSkipped(server.Name, tool, reason));
            server.Plugin.SetFunctions(functions);
            lock (_clients)
            {
                _clients.Add(client);
            }

            LogConnected(server.Name, server.Plugin.Name, functions.Count, string.Join(", ", functions.Select(f => f.Name)));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Our own words plus the exception: the server's options (headers, environment) are never logged.
            if (timeout.IsCancellationRequested)
            {
                LogConnectTimedOut(server.Name, connectTimeout);
            }
            else
            {
                LogConnectFailed(ex, server.Name);
            }

            if (client is not null)
            {
                await client.DisposeAsync();
            }
        }
    }

    private IClientTransport CreateTransport(McpServerRegistration server)
    {
        var options = server.Options;
        if (options.Url is { } url)
        {
            return new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = url,
                Name = server.Name,
                TransportMode = HttpTransportMode.AutoDetect,
                ConnectionTimeout = connectTimeout,
                AdditionalHeaders = options.Headers,
            }, loggerFactory);
        }

        return new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = options.Command!,
            Arguments = options.Arguments,
            WorkingDirectory = options.WorkingDirectory,
            EnvironmentVariables = options.Environment,
            Name = server.Name,
            StandardErrorLines = line => LogServerStandardError(server.Name, line),
        }, loggerFactory);
    }

    private async ValueTask DisposeClientsAsync()
    {
        McpClient[] clients;
        lock (_clients)
        {
            clients = [.. _clients];
            _clients.Clear();
        }

        foreach (var client in clients)
        {
            try
            {
                await client.DisposeAsync();
            }
            catch (Exception ex)
            {
                LogDisposeFailed(ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MCP server {Server} connected: plugin {Plugin} with {Count} tools ({Tools})")]
    private partial void LogConnected(string server, string plugin, int count, string tools);

    [LoggerMessage(Level = LogLevel.Error, Message = "MCP server {Server} could not be connected; the agent runs without its tools")]
    private partial void LogConnectFailed(Exception exception, string server);

    [LoggerMessage(Level = LogLevel.Error, Message = "MCP server {Server} did not connect within {Timeout}; the agent runs without its tools")]
    private partial void LogConnectTimedOut(string server, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MCP server {Server}: tool {Tool} is not offered: {Reason}")]
    private partial void LogToolSkipped(string server, string tool, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "MCP server {Server} stderr: {Line}")]
    private partial void LogServerStandardError(string server, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An MCP connection did not close cleanly")]
    private partial void LogDisposeFailed(Exception exception);
}
