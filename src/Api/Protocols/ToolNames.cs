namespace Agents.Api.Protocols;

/// <summary>Tool names as front ends show them.</summary>
public static class ToolNames
{
    /// <summary>
    /// The name without the plugin prefix the model sees (<c>Demo-make_reservation</c> is <c>make_reservation</c>):
    /// function names have no <c>-</c>, so what follows the last one is the tool.
    /// </summary>
    public static string Display(string name) => name[(name.LastIndexOf('-') + 1)..];
}
