using System.Text;
using System.Text.Json;
using Agents.Grains.Agent.Tools;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Agent;

/// <summary>
/// The Demo model's research scenario, offline: "research &lt;topic&gt;" starts three sub-agents, one per angle; each
/// reads its source (a page the single-node app serves under <see cref="PagePath"/>) with <c>fetch_url</c> and
/// reports; the parent writes the combined report with the sources. Like the rest of the Demo model it reads only the
/// history, so a step retried after a restart plays the same way.
/// </summary>
public static class DemoResearch
{
    /// <summary>Where the app serves the demo sources: <c>/demo/research/{topic}/{angle}</c>.</summary>
    public const string PagePath = "demo/research";

    private const string Trigger = "research ";
    private const string ChildPrefix = "Read ";

    /// <summary>The three angles of every demo research, and what each source page says.</summary>
    public static readonly IReadOnlyList<(string Slug, string Title)> Angles =
    [
        ("background", "Background"),
        ("today", "Where it stands today"),
        ("questions", "Open questions"),
    ];

    internal static DemoTurn? Plan(ChatHistory history, string request, List<ChatMessageContent> sinceRequest, Kernel? kernel, DemoSite site)
    {
        var first = history.FirstOrDefault(m => m.Role == AuthorRole.User)?.Content ?? "";
        if (first.StartsWith(ChildPrefix, StringComparison.Ordinal) && first.Split(' ') is [_, var url, ..] && Uri.TryCreate(url, UriKind.Absolute, out var source))
        {
            return PlanChild(source, sinceRequest, kernel);
        }

        var start = DemoChatCompletionService.FullName(kernel, SubagentPlugin.StartSubagents);
        if (!request.StartsWith(Trigger, StringComparison.OrdinalIgnoreCase) || start is null)
        {
            return null;
        }

        var topic = request[Trigger.Length..].Trim().TrimEnd('.', '!', '?');
        topic = topic.Length == 0 ? "agents" : DemoChatCompletionService.Shorten(topic);
        var joined = sinceRequest.SelectMany(m => m.Items.OfType<FunctionResultContent>()).LastOrDefault(r => r.FunctionName == SubagentPlugin.StartSubagents);
        if (joined is null)
        {
            var baseAddress = site.BaseAddress;
            var tasks = Angles.Select(a => new
            {
                title = $"{topic}: {a.Title}",
                prompt = baseAddress is null
                    ? $"Report on {topic}: {a.Title.ToLowerInvariant()}."
                    : $"{ChildPrefix}{new Uri(baseAddress, $"{PagePath}/{Uri.EscapeDataString(topic)}/{a.Slug}")} and report on {topic}: {a.Title.ToLowerInvariant()}.",
            });
            return new DemoTurn("Planning the research", $"I'll research {topic} from three angles at once.\n",
                new DemoCall(start, JsonSerializer.Serialize(new { tasks })));
        }

        return new DemoTurn(null, Combine(topic, joined.Result?.ToString()), null);
    }

    /// <summary>The demo source page for an angle of a topic: a title and paragraphs.</summary>
    public static (string Title, string[] Paragraphs) Page(string topic, string angle)
    {
        var title = Angles.FirstOrDefault(a => a.Slug == angle).Title ?? "Notes";
        return ($"{title}: {topic}", angle switch
        {
            "background" => [
                $"The story of {topic} starts long before anyone wrote it down.",
                $"Early practitioners of {topic} learned by doing, and their habits became the field's first rules.",
            ],
            "today" => [
                $"Today {topic} is practised widely, with tools that make the basics easy to learn.",
                $"Most newcomers to {topic} start small and grow with a community around them.",
            ],
            _ => [
                $"What is still unsettled about {topic} is how far its methods carry to new settings.",
                $"People who work on {topic} disagree most about what to measure.",
            ],
        });
    }

    private static DemoTurn PlanChild(Uri source, List<ChatMessageContent> sinceRequest, Kernel? kernel)
    {
        var fetch = DemoChatCompletionService.FullName(kernel, "fetch_url");
        var read = sinceRequest.SelectMany(m => m.Items.OfType<FunctionResultContent>()).LastOrDefault(r => r.FunctionName == "fetch_url");
        if (fetch is not null && read is null)
        {
            return new DemoTurn("Reading the source", null, new DemoCall(fetch, JsonSerializer.Serialize(new { url = source.ToString() })));
        }

        var (title, text) = ReadPage(read?.Result?.ToString());
        return text is null
            ? new DemoTurn(null, $"I could not read {source}, so this part has nothing from it.", null)
            : new DemoTurn(null, $"{title}. {text}\nSource: {source}", null);
    }

    private static (string? Title, string? Text) ReadPage(string? json)
    {
        try
        {
            using var document = JsonDocument.Parse(json ?? "");
            var root = document.RootElement;
            var title = root.TryGetProperty("title", out var t) ? t.GetString() : null;
            var text = root.TryGetProperty("text", out var x) ? x.GetString() : null;
            return (title, text is null ? null : string.Join(' ', text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l != title)));
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    private static string Combine(string topic, string? resultsJson)
    {
        var report = new StringBuilder($"Report on {topic}\n\n");
        var sources = new List<string>();
        try
        {
            using var document = JsonDocument.Parse(resultsJson ?? "[]");
            foreach (var part in document.RootElement.EnumerateArray())
            {
                var text = part.TryGetProperty("text", out var t) ? t.GetString() ?? "" : "";
                var lines = text.Split('\n');
                report.Append(part.GetProperty("title").GetString()).Append(": ")
                    .Append(string.Join(' ', lines.Where(l => !l.StartsWith("Source:", StringComparison.Ordinal))).Trim() is { Length: > 0 } said ? said : $"({part.GetProperty("outcome").GetString()}, no report)")
                    .Append("\n\n");
                sources.AddRange(lines.Where(l => l.StartsWith("Source:", StringComparison.Ordinal)).Select(l => l["Source:".Length..].Trim()));
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            report.Append("The sub-agents' reports could not be read.\n\n");
        }

        report.Append(sources.Count == 0 ? "No sources were read." : $"Sources: {string.Join(", ", sources)}");
        return report.ToString();
    }
}
