using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Mcp;

/// <summary>
/// The tools of one MCP server as a kernel plugin named after it. It is registered when the host is built and
/// filled in once the server is connected, so every kernel (they are created per conversation) sees the same tools;
/// a server that could not be reached leaves it empty.
/// </summary>
internal sealed class McpToolPlugin(string name, string serverName)
    : KernelPlugin(name, $"Tools of the MCP server '{serverName}'.")
{
    private volatile Dictionary<string, KernelFunction> _functions = new(StringComparer.OrdinalIgnoreCase);

    public string ServerName { get; } = serverName;

    public override int FunctionCount => _functions.Count;

    public override bool TryGetFunction(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out KernelFunction? function) =>
        _functions.TryGetValue(name, out function);

    public override IEnumerator<KernelFunction> GetEnumerator() => _functions.Values.GetEnumerator();

    /// <summary>Replaces the tools at once: a reader sees the old set or the new one, never half of it.</summary>
    public void SetFunctions(IEnumerable<KernelFunction> functions) =>
        _functions = functions.ToDictionary(f => f.Name, StringComparer.OrdinalIgnoreCase);
}
