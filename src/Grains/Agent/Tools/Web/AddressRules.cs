using System.Net;
using System.Net.Sockets;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary>
/// Which addresses <c>fetch_url</c> may connect to: public unicast only. Everything a server-side request could use to
/// reach the cluster's own network, the host itself or a cloud's metadata service is refused.
/// </summary>
public static class AddressRules
{
    // Ordered so that the most telling reason wins where ranges nest.
    private static readonly (IPNetwork Network, string Reason)[] Refused =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "an unspecified address"),
        (IPNetwork.Parse("10.0.0.0/8"), "a private-network address"),
        (IPNetwork.Parse("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
        (IPNetwork.Parse("127.0.0.0/8"), "a loopback address"),
        (IPNetwork.Parse("169.254.0.0/16"), "a link-local address (where cloud metadata services live)"),
        (IPNetwork.Parse("172.16.0.0/12"), "a private-network address"),
        (IPNetwork.Parse("192.0.0.0/24"), "a reserved address"),
        (IPNetwork.Parse("192.0.2.0/24"), "a reserved (documentation) address"),
        (IPNetwork.Parse("192.168.0.0/16"), "a private-network address"),
        (IPNetwork.Parse("198.18.0.0/15"), "a reserved (benchmarking) address"),
        (IPNetwork.Parse("198.51.100.0/24"), "a reserved (documentation) address"),
        (IPNetwork.Parse("203.0.113.0/24"), "a reserved (documentation) address"),
        (IPNetwork.Parse("224.0.0.0/4"), "a multicast address"),
        (IPNetwork.Parse("240.0.0.0/4"), "a reserved (or broadcast) address"),
        (IPNetwork.Parse("::/128"), "an unspecified address"),
        (IPNetwork.Parse("::1/128"), "a loopback address"),
        (IPNetwork.Parse("100::/64"), "a reserved (discard) address"),
        (IPNetwork.Parse("2001:db8::/32"), "a reserved (documentation) address"),
        (IPNetwork.Parse("fc00::/7"), "a private-network (unique local) address"),
        (IPNetwork.Parse("fe80::/10"), "a link-local address"),
        (IPNetwork.Parse("fec0::/10"), "a private-network (site-local) address"),
        (IPNetwork.Parse("ff00::/8"), "a multicast address"),
    ];

    // IPv6 forms that carry an IPv4 address inside; the IPv4 address is what the packets may end up at.
    private static readonly IPNetwork Compatible = IPNetwork.Parse("::/96");
    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork Nat64Local = IPNetwork.Parse("64:ff9b:1::/48");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>Why <paramref name="address"/> may not be fetched (such as "a loopback address"), or null when it is public.</summary>
    public static string? RefusalReason(IPAddress address)
    {
        if (EmbeddedIPv4(address) is { } inner)
        {
            return RefusalReason(inner);
        }

        foreach (var (network, reason) in Refused)
        {
            if (network.Contains(address))
            {
                return reason;
            }
        }

        return null;
    }

    /// <summary>The IPv4 address an IPv4-mapped, -compatible, NAT64 or 6to4 IPv6 address stands for.</summary>
    public static IPAddress? EmbeddedIPv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        if (SixToFour.Contains(address))
        {
            return new IPAddress(bytes.AsSpan(2, 4));
        }

        // :: and ::1 are themselves; the rest of ::/96 is the deprecated IPv4-compatible form.
        var compatible = Compatible.Contains(address) && !address.Equals(IPAddress.IPv6Any) && !address.Equals(IPAddress.IPv6Loopback);
        return compatible || Nat64.Contains(address) || Nat64Local.Contains(address) ? new IPAddress(bytes.AsSpan(12, 4)) : null;
    }
}
