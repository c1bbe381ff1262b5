using System.Net;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary>Name resolution for <c>fetch_url</c>'s guard; a seam so that tests can play a DNS server that changes its answer.</summary>
public class HostResolver
{
    public virtual Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}
