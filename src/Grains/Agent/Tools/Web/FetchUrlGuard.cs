using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary>
/// Keeps <c>fetch_url</c> off internal addresses (SSRF). The plugin asks it about every URL before the request, for a
/// clear answer; the HTTP handler's connect callback asks it again and connects only to the addresses it checked, so a
/// name that resolves differently the second time (DNS rebinding) still cannot reach a refused address.
/// </summary>
public sealed class FetchUrlGuard(IOptions<FetchUrlOptions> options, HostResolver resolver)
{
    private readonly string[] _allowedHosts = [.. (options.Value.AllowedHosts ?? []).Where(h => !string.IsNullOrWhiteSpace(h)).Select(Normalize)];
    private readonly IReadOnlyList<IPNetwork> _allowedNetworks = options.Value.ParseAllowedNetworks();

    /// <summary>Refuses a URL the tool must not fetch: not http(s), with credentials, or on a refused host or address.</summary>
    /// <exception cref="FetchUrlRefusedException">The URL is refused; the message says why.</exception>
    public async Task CheckAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (uri.Scheme is not ("http" or "https"))
        {
            throw new FetchUrlRefusedException($"Refused {Show(uri)}: only http and https URLs can be fetched.");
        }

        if (uri.UserInfo.Length > 0)
        {
            throw new FetchUrlRefusedException($"Refused {Show(uri)}: URLs with a user name or password are not fetched.");
        }

        await ResolveAsync(uri.IdnHost, cancellationToken);
    }

    /// <summary>The addresses <paramref name="host"/> may be reached at: all of them checked, or it is allow-listed.</summary>
    /// <exception cref="FetchUrlRefusedException">The host, or one of its addresses, is refused.</exception>
    /// <exception cref="FetchUrlException">The name does not resolve.</exception>
    public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        var name = Normalize(host);
        var allowed = IsAllowedHost(name);
        if (IPAddress.TryParse(name, out var literal))
        {
            if (!allowed)
            {
                Check(literal, name, isLiteral: true);
            }

            return [literal];
        }

        if (!allowed && (name == "localhost" || name.EndsWith(".localhost", StringComparison.Ordinal)))
        {
            throw new FetchUrlRefusedException($"Refused {name}: it names this machine (a loopback address); only public internet addresses can be fetched.");
        }

        IPAddress[] addresses;
        try
        {
            addresses = await resolver.ResolveAsync(name, cancellationToken);
        }
        catch (SocketException)
        {
            throw new FetchUrlException($"The host name {name} could not be resolved.");
        }

        if (addresses.Length == 0)
        {
            throw new FetchUrlException($"The host name {name} could not be resolved.");
        }

        if (!allowed)
        {
            // Every address, not only the first: the client could connect to any of them.
            foreach (var address in addresses)
            {
                Check(address, name, isLiteral: false);
            }
        }

        return addresses;
    }

    /// <summary>The <see cref="SocketsHttpHandler.ConnectCallback"/>: connects to a checked address of the request's host.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(context.DnsEndPoint.Host, cancellationToken);
        SocketException? failure = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                failure = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw failure ?? new SocketException((int)SocketError.HostNotFound);
    }

    private void Check(IPAddress address, string host, bool isLiteral)
    {
        if (AddressRules.RefusalReason(address) is not { } reason || IsAllowedAddress(address))
        {
            return;
        }

        // The resolved address of a name is not repeated: the model need not learn the internal network's layout.
        var what = isLiteral ? $"{host} is {reason}" : $"{host} resolves to {reason}";
        throw new FetchUrlRefusedException($"Refused {host}: {what}; only public internet addresses can be fetched.");
    }

    private bool IsAllowedAddress(IPAddress address)
    {
        var inner = AddressRules.EmbeddedIPv4(address);
        return _allowedNetworks.Any(n => n.Contains(address) || inner is not null && n.Contains(inner));
    }

    private bool IsAllowedHost(string name) =>
        _allowedHosts.Any(h => h.StartsWith("*.", StringComparison.Ordinal)
            ? name.EndsWith(h[1..], StringComparison.Ordinal)
            : name == h);

    private static string Normalize(string host) => host.Trim().Trim('[', ']').TrimEnd('.').ToLowerInvariant();

    /// <summary>A URL as the model may see it back: without any credentials and not endlessly long.</summary>
    internal static string Show(Uri uri)
    {
        var text = uri.UserInfo.Length > 0 ? new UriBuilder(uri) { UserName = "", Password = "" }.Uri.AbsoluteUri : uri.AbsoluteUri;
        return text.Length <= 200 ? text : text[..200] + "…";
    }
}
