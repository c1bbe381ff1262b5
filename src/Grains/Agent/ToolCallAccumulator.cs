using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent;

/// <summary>
/// Gathers the tool calls of one streamed response: a call's id and name come first, its arguments in pieces.
/// </summary>
internal sealed class ToolCallAccumulator
{
    private readonly List<Builder> _calls = [];

    public int Count => _calls.Count;

    public void Add(IEnumerable<StreamingKernelContent> items)
    {
        foreach (var update in items.OfType<StreamingFunctionCallUpdateContent>())
        {
            var current = _calls.LastOrDefault(c => c.Index == update.FunctionCallIndex);
            // Some servers send each complete call under the same index: a new id starts a new call.
            if (current is null || (update.CallId is not null && current.CallId is not null && update.CallId != current.CallId))
            {
                current = new Builder { Index = update.FunctionCallIndex };
                _calls.Add(current);
            }

            current.CallId ??= update.CallId;
            current.Name ??= update.Name;
            current.Arguments.Append(update.Arguments);
        }
    }

    public IEnumerable<(string? CallId, string Name, string Arguments)> Build() =>
        _calls.Select(c => (c.CallId, c.Name ?? "", c.Arguments.ToString()));

    private sealed class Builder
    {
        public int Index { get; init; }
        public string? CallId { get; set; }
        public string? Name { get; set; }
        public System.Text.StringBuilder Arguments { get; } = new();
    }
}
