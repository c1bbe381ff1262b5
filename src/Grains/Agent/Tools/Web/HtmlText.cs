using System.Text;
using AngleSharp.Dom;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary>
/// A parsed page as the text a reader sees: what scripts, styles and hidden parts hold is dropped, blocks become lines,
/// list items and headings keep a mark so the structure survives.
/// </summary>
internal static class HtmlText
{
    private static readonly HashSet<string> Dropped = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "noscript", "template", "head", "svg", "math", "canvas", "iframe", "object", "embed",
        "audio", "video", "select", "datalist", "dialog",
    };

    // Blocks start and end a line; paragraphs also leave a blank line around them.
    private static readonly HashSet<string> Blocks = new(StringComparer.OrdinalIgnoreCase)
    {
        "address", "article", "aside", "body", "dd", "details", "div", "dt", "fieldset", "figcaption", "figure", "footer",
        "form", "header", "hr", "li", "main", "nav", "section", "summary", "tbody", "thead", "tfoot", "tr", "caption",
    };

    private static readonly HashSet<string> Paragraphs = new(StringComparer.OrdinalIgnoreCase)
    {
        "blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "p", "pre", "table", "ul",
    };

    public static string Of(INode root)
    {
        var text = new StringBuilder();
        Append(root, text, preformatted: false);
        return Tidy(text.ToString());
    }

    /// <summary>Whitespace collapsed to single spaces, as a browser shows a title.</summary>
    public static string Collapse(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static void Append(INode node, StringBuilder text, bool preformatted)
    {
        switch (node)
        {
            case IText t:
                text.Append(preformatted ? t.Data : CollapseKeepingEdges(t.Data));
                return;
            case IElement e when Dropped.Contains(e.LocalName) || e.HasAttribute("hidden")
                || string.Equals(e.GetAttribute("aria-hidden"), "true", StringComparison.OrdinalIgnoreCase):
                return;
            case IElement { LocalName: "br" }:
                text.Append('\n');
                return;
            case IElement e:
                var breaks = Paragraphs.Contains(e.LocalName) ? 2 : Blocks.Contains(e.LocalName) ? 1 : 0;
                Break(text, breaks);

                if (e.LocalName is ['h', >= '1' and <= '6'])
                {
                    text.Append('#', e.LocalName[1] - '0').Append(' ');
                }
                else if (e.LocalName == "li")
                {
                    text.Append("- ");
                }
                else if (e.LocalName is "td" or "th")
                {
                    text.Append('\t');
                }
                else if (e.LocalName == "img" && e.GetAttribute("alt") is { Length: > 0 } alt)
                {
                    text.Append(' ').Append(Collapse(alt)).Append(' ');
                }

                foreach (var child in e.ChildNodes)
                {
                    Append(child, text, preformatted || e.LocalName == "pre");
                }

                Break(text, breaks);
                return;
            default:
                foreach (var child in node.ChildNodes)
                {
                    Append(child, text, preformatted);
                }

                return;
        }
    }

    // Ends the text with (at least) that many line breaks, whatever blocks already ended it.
    private static void Break(StringBuilder text, int breaks)
    {
        if (breaks == 0)
        {
            return;
        }

        while (text.Length > 0 && text[^1] is ' ' or '\t')
        {
            text.Length--;
        }

        var have = 0;
        while (have < text.Length && text[text.Length - 1 - have] == '\n')
        {
            have++;
        }

        if (text.Length > have)
        {
            text.Append('\n', Math.Max(0, breaks - have));
        }
    }

    private static string CollapseKeepingEdges(string data)
    {
        var collapsed = Collapse(data);
        if (collapsed.Length == 0)
        {
            return data.Length > 0 ? " " : "";
        }

        var start = char.IsWhiteSpace(data[0]) ? " " : "";
        var end = char.IsWhiteSpace(data[^1]) ? " " : "";
        return start + collapsed + end;
    }

    // Lines trimmed, runs of spaces and of blank lines collapsed: the model pays for every character.
    private static string Tidy(string text)
    {
        var lines = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim(' ', '\t', '\r');
            if (line.Length > 0 || (lines.Count > 0 && lines[^1].Length > 0))
            {
                lines.Add(line);
            }
        }

        return string.Join('\n', lines).Trim();
    }
}
