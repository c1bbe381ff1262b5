using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary>The <c>fetch_url</c> tool; bound from <c>Tools:FetchUrl</c>.</summary>
public sealed class FetchUrlOptions
{
    public const string SectionName = "Tools:FetchUrl";

    /// <summary>
    /// Whether agents are offered <c>fetch_url</c>. Off unless configured: a tool that reaches the network from inside
    /// the cluster is the operator's decision.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>The most bytes of one response that are read (after decompression); the rest is never downloaded.</summary>
    [Range(1_024, 100 * 1024 * 1024)]
    public int MaxBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>The most characters of text the model is given; longer text is cut and says so.</summary>
    [Range(100, 1_000_000)]
    public int MaxChars { get; set; } = 20_000;

    /// <summary>How many redirects one fetch follows; each hop is checked like the first URL.</summary>
    [Range(0, 20)]
    public int MaxRedirects { get; set; } = 5;

    /// <summary>
    /// How long one fetch may take, redirects and reading the body included. Keep it below <c>Agent:ToolTimeout</c> so
    /// the model hears which page was slow.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Host names (or IP literals, as written in the URL) fetched whatever addresses they have, for internal sites the
    /// agents may read. A leading <c>*.</c> allows every subdomain. Null by default: the binder would append to items.
    /// </summary>
    public string[]? AllowedHosts { get; set; }

    /// <summary>Networks in CIDR form (<c>10.20.0.0/16</c>, <c>fd12::/48</c>) or single addresses that names may resolve to.</summary>
    public string[]? AllowedNetworks { get; set; }

    /// <summary>The <c>User-Agent</c> sent with every request.</summary>
    [Required]
    public string UserAgent { get; set; } = "AgentsFetchUrl/1.0";

    /// <summary>The allowed networks, parsed; those that do not parse are left out (validation on start refuses them).</summary>
    /// <remarks>A method: the configuration binder would read a property, and bind into it.</remarks>
    public IReadOnlyList<IPNetwork> ParseAllowedNetworks() =>
        [.. (AllowedNetworks ?? []).Select(ParseNetwork).OfType<IPNetwork>()];

    /// <summary>Why the options cannot be used, or null.</summary>
    public string? Problem()
    {
        if (Timeout < TimeSpan.FromMilliseconds(100) || Timeout > TimeSpan.FromMinutes(10))
        {
            return $"{SectionName}:Timeout must be between 00:00:00.1 and 00:10:00.";
        }

        foreach (var host in AllowedHosts ?? [])
        {
            if (string.IsNullOrWhiteSpace(host) || (host.IndexOfAny([':', '/', '@', ' ']) >= 0 && !IPAddress.TryParse(host.Trim('[', ']'), out _)))
            {
                return $"{SectionName}:AllowedHosts has '{host}': give a bare host name such as wiki.internal, *.corp.example or an IP address.";
            }
        }

        foreach (var network in AllowedNetworks ?? [])
        {
            if (!string.IsNullOrWhiteSpace(network) && ParseNetwork(network) is null)
            {
                return $"{SectionName}:AllowedNetworks has '{network}': give a CIDR network such as 10.20.0.0/16 or an address.";
            }
        }

        return null;
    }

    private static IPNetwork? ParseNetwork(string? text)
    {
        text = text?.Trim() ?? "";
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        return IPAddress.TryParse(text, out var address)
            ? new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : null;
    }
}
