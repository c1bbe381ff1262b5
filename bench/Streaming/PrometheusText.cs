using System.Globalization;

namespace Agents.Bench.Streaming;

/// <summary>Reads samples out of a server's Prometheus text (<c>/metrics</c>).</summary>
internal static class PrometheusText
{
    /// <summary>
    /// The sum over every sample of the metrics whose names start with <paramref name="prefix"/>: the value is the token
    /// after the name and labels (an exporter may append a timestamp after it).
    /// </summary>
    public static double Sum(string text, string prefix)
    {
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var labelsEnd = line.LastIndexOf('}');
            var rest = (labelsEnd >= 0 ? line[(labelsEnd + 1)..] : line[line.IndexOf(' ')..]).Trim();
            var value = rest.Split(' ', 2)[0];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
            {
                sum += parsed;
            }
        }

        return sum;
    }
}
