using System.ComponentModel;
using System.Net;
using System.Net.Http;
using System.Text;
using AngleSharp.Html.Parser;
using AngleSharp.Text;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;
using Polly.Timeout;

namespace Agents.Grains.Agent.Tools.Web;

/// <summary><c>fetch_url</c>: reads a public web page, or a text or JSON document, for the agent.</summary>
public sealed class WebPlugin(IHttpClientFactory clients, FetchUrlGuard guard, IOptions<FetchUrlOptions> options)
{
    public const string PluginName = "web";
    public const string FetchUrl = "fetch_url";

    /// <summary>The named <see cref="HttpClient"/>: guarded connect, no automatic redirects, the standard resilience handler.</summary>
    public const string HttpClientName = "fetch_url";

    [KernelFunction(FetchUrl), Idempotent]
    [Description(
        "Read a public web page (http or https) and get its title and readable text, without markup, scripts or styles; " +
        "plain text and JSON come back as they are. It cannot log in, fill in forms or run scripts, and refuses internal " +
        "addresses. Long pages are cut.")]
    [return: Description("url (after redirects), status (HTTP), contentType, title, text, and truncated when the text was cut.")]
    public async Task<FetchUrlResult> FetchAsync(
        [Description("The absolute http or https URL to read.")] string url,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!Uri.TryCreate(url?.Trim(), UriKind.Absolute, out var uri))
        {
            throw new FetchUrlException("That is not an absolute URL; give one such as https://example.com/page.");
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(settings.Timeout);
        var client = clients.CreateClient(HttpClientName);
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                await guard.CheckAsync(uri, limit.Token);
                // HTTP/1.1: HTTP/3 would run over QUIC, which does not go through the guarded connect callback.
                using var request = new HttpRequestMessage(HttpMethod.Get, uri)
                {
                    Version = HttpVersion.Version11,
                    VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
                };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token);
                if (IsRedirect(response.StatusCode) && response.Headers.Location is { } location)
                {
                    if (redirects == settings.MaxRedirects)
                    {
                        throw new FetchUrlException($"{FetchUrlGuard.Show(uri)} redirected more than {settings.MaxRedirects} times; stopped there.");
                    }

                    uri = new Uri(uri, location);
                    continue;
                }

                return await ReadAsync(uri, response, settings, limit.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new FetchUrlException($"{FetchUrlGuard.Show(uri)} did not answer within {settings.Timeout.TotalSeconds:0.#} s.");
        }
        catch (TimeoutRejectedException)
        {
            throw new FetchUrlException($"{FetchUrlGuard.Show(uri)} did not answer within {settings.Timeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException ex) when (ex.InnerException is FetchUrlException inner)
        {
            // The connect callback's own answer, which the handler wraps.
            throw inner;
        }
        catch (HttpRequestException ex)
        {
            // Our words, not the exception's: those can carry the address and port that was tried.
            throw new FetchUrlException($"Could not fetch {FetchUrlGuard.Show(uri)}: {Describe(ex.HttpRequestError)}.");
        }
        catch (IOException)
        {
            throw new FetchUrlException($"Could not fetch {FetchUrlGuard.Show(uri)}: the connection broke while the page was read.");
        }
    }

    private static async Task<FetchUrlResult> ReadAsync(Uri uri, HttpResponseMessage response, FetchUrlOptions settings, CancellationToken cancellationToken)
    {
        var contentType = response.Content.Headers.ContentType;
        var media = contentType?.MediaType?.ToLowerInvariant();
        var kind = KindOf(media);
        if (kind == ContentKind.Binary)
        {
            throw new FetchUrlException($"{FetchUrlGuard.Show(uri)} is {media}, not a web page or text; fetch_url reads HTML, text and JSON only.");
        }

        var (body, cut) = await ReadBoundedAsync(response.Content, settings.MaxBytes, cancellationToken);
        if (kind == ContentKind.Unknown)
        {
            kind = Sniff(body);
            if (kind == ContentKind.Binary)
            {
                throw new FetchUrlException($"{FetchUrlGuard.Show(uri)} is binary data, not a web page or text; fetch_url reads HTML, text and JSON only.");
            }
        }

        var charset = contentType?.CharSet?.Trim('"', ' ');
        var encoding = string.IsNullOrEmpty(charset) ? null : TextEncoding.Resolve(charset);
        string? title = null;
        string text;
        if (kind == ContentKind.Html)
        {
            using var document = new HtmlParser().ParseDocument(body, encoding);
            title = document.Title is { Length: > 0 } t ? HtmlText.Collapse(t) : null;
            text = HtmlText.Of(document.Body ?? (AngleSharp.Dom.INode)document);
        }
        else
        {
            using var reader = new StreamReader(new MemoryStream(body.ToArray()), encoding ?? Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            text = await reader.ReadToEndAsync(cancellationToken);
        }

        var truncated = cut || text.Length > settings.MaxChars;
        if (text.Length > settings.MaxChars)
        {
            var end = char.IsHighSurrogate(text[settings.MaxChars - 1]) ? settings.MaxChars - 1 : settings.MaxChars;
            text = text[..end] + $"\n[… cut: the text is longer than {settings.MaxChars} characters]";
        }
        else if (cut)
        {
            text += $"\n[… cut: only the first {settings.MaxBytes} bytes of the response were read]";
        }

        return new FetchUrlResult(uri.AbsoluteUri, (int)response.StatusCode, media ?? "", title, text, truncated);
    }

    // At most maxBytes are taken off the wire, whatever Content-Length says; the rest is never read.
    private static async Task<(ReadOnlyMemory<byte> Body, bool Cut)> ReadBoundedAsync(HttpContent content, int maxBytes, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[Math.Min(maxBytes + 1, 64 * 1024)];
        var length = 0;
        while (length <= maxBytes)
        {
            if (length == buffer.Length)
            {
                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
            }

            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        return length > maxBytes ? (buffer.AsMemory(0, maxBytes), true) : (buffer.AsMemory(0, length), false);
    }

    private static ContentKind KindOf(string? media) => media switch
    {
        null or "" => ContentKind.Unknown,
        "text/html" or "application/xhtml+xml" => ContentKind.Html,
        _ when media.StartsWith("text/", StringComparison.Ordinal) => ContentKind.Text,
        "application/json" or "application/xml" or "application/javascript" or "application/x-ndjson" or "application/yaml"
            or "application/x-yaml" or "application/toml" or "application/csv" => ContentKind.Text,
        _ when media.EndsWith("+json", StringComparison.Ordinal) || media.EndsWith("+xml", StringComparison.Ordinal) => ContentKind.Text,
        _ => ContentKind.Binary,
    };

    // Without a Content-Type: a NUL byte means binary; markup at the start means HTML.
    private static ContentKind Sniff(ReadOnlyMemory<byte> body)
    {
        var head = body.Span[..Math.Min(body.Length, 1024)];
        if (head.Contains((byte)0))
        {
            return ContentKind.Binary;
        }

        var start = Encoding.UTF8.GetString(head).TrimStart().ToLowerInvariant();
        return start.StartsWith("<!doctype html", StringComparison.Ordinal) || start.StartsWith("<html", StringComparison.Ordinal)
            ? ContentKind.Html
            : ContentKind.Text;
    }

    private static bool IsRedirect(HttpStatusCode status) => (int)status is 301 or 302 or 303 or 307 or 308;

    private static string Describe(HttpRequestError error) => error switch
    {
        HttpRequestError.NameResolutionError => "the host name could not be resolved",
        HttpRequestError.ConnectionError => "the connection failed",
        HttpRequestError.SecureConnectionError => "the TLS handshake failed (certificate or protocol)",
        HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse => "the server's answer was not valid HTTP",
        HttpRequestError.ResponseEnded => "the server closed the connection early",
        HttpRequestError.ConfigurationLimitExceeded => "the server's headers were too large",
        _ => "the request failed",
    };

    private enum ContentKind
    {
        Unknown,
        Html,
        Text,
        Binary,
    }
}

/// <summary>What <c>fetch_url</c> returns to the model.</summary>
/// <param name="Url">The URL that answered, after redirects.</param>
/// <param name="Status">Its HTTP status; error pages are returned too, with their text.</param>
/// <param name="ContentType">The media type, such as <c>text/html</c>; empty when the server sent none.</param>
/// <param name="Title">The HTML title, if any.</param>
/// <param name="Text">The readable text, cut at <c>Tools:FetchUrl:MaxChars</c> with a note saying so.</param>
/// <param name="Truncated">Whether the text or the body was cut.</param>
public sealed record FetchUrlResult(string Url, int Status, string ContentType, string? Title, string Text, bool Truncated);
