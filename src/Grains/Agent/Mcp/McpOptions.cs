namespace Agents.Grains.Agent.Mcp;

/// <summary>Model Context Protocol servers whose tools the agent is offered; bound from <c>Mcp</c>.</summary>
public sealed class McpOptions
{
    public const string SectionName = "Mcp";

    /// <summary>The servers by name (<c>Mcp:Servers:&lt;name&gt;</c>); each becomes one plugin of that name.</summary>
    public Dictionary<string, McpServerOptions> Servers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long one server may take to start, connect and list its tools before it is skipped.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>One MCP server: a local process spoken to over stdio (<see cref="Command"/>), or a URL (streamable HTTP).</summary>
public sealed class McpServerOptions
{
    /// <summary>For stdio: the program to start, such as <c>npx</c> or <c>/usr/local/bin/my-server</c>.</summary>
    public string? Command { get; set; }

    /// <summary>For stdio: its arguments.</summary>
    public string[]? Arguments { get; set; }

    /// <summary>For stdio: its working directory.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>For stdio: variables added to its environment (it inherits the silo's).</summary>
    public Dictionary<string, string?>? Environment { get; set; }

    /// <summary>For HTTP: the server's MCP endpoint, such as <c>https://tools.example.com/mcp</c>.</summary>
    public Uri? Url { get; set; }

    /// <summary>For HTTP: headers sent with every request, such as <c>Authorization</c>. Never logged.</summary>
    public Dictionary<string, string>? Headers { get; set; }

    /// <summary>False to keep a configured server switched off.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Whether a tool the server marks read-only or idempotent may run again after a restart interrupted it
    /// (as <c>[Idempotent]</c> tools do). Turn off for a server whose annotations you do not trust.
    /// </summary>
    public bool TrustAnnotations { get; set; } = true;
}
