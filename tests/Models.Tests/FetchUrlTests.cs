using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agents.Events;
using Agents.Grains.Agent.Tools;
using Agents.Grains.Agent.Tools.Web;
using Agents.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;

namespace Agents.Models.Tests;

/// <summary>
/// <c>fetch_url</c> through DI as the silo wires it (<c>AddWebTools</c>, the named client with the guard's connect
/// callback and the standard resilience handler), invoked as the conversation invokes tools, against a real local
/// site. Every refused address is refused before any packet leaves: only 127.0.0.1 is ever connected to.
/// </summary>
public sealed class FetchUrlTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private WebTestServer _site = null!;
    private readonly List<IHost> _hosts = [];

    public async ValueTask InitializeAsync() => _site = await WebTestServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            try
            {
                await host.StopAsync(Ct);
            }
            catch (OptionsValidationException)
            {
                // The hosts that were meant not to start.
            }

            host.Dispose();
        }

        await _site.DisposeAsync();
    }

    // ---- what it reads

    [Fact]
    public async Task HtmlPage_GivesTitleAndReadableText_WithoutScriptsStylesOrHiddenParts()
    {
        var tool = await StartAsync(AllowSite());

        var page = await tool.FetchAsync(_site.Url("/page"));

        Assert.Equal(_site.Url("/page").AbsoluteUri, page.Url);
        Assert.Equal(200, page.Status);
        Assert.Equal("text/html", page.ContentType);
        Assert.Equal("The test page", page.Title);
        Assert.False(page.Truncated);
        Assert.Contains("# Main heading", page.Text);
        Assert.Contains("First paragraph with a link.\n", page.Text);
        Assert.Contains("Second paragraph.", page.Text);
        Assert.Contains("- Home\n- About", page.Text);
        Assert.Contains("Name\tValue", page.Text);
        Assert.Contains("A picture", page.Text);
        foreach (var dropped in new[] { "alert", "from the body", "color: red", "Please enable scripts", "hidden text", "<p>", "The test page" })
        {
            Assert.DoesNotContain(dropped, page.Text);
        }
    }

    [Fact]
    public async Task Result_IsTheJsonTheToolResultCarries()
    {
        var tool = await StartAsync(AllowSite());

        var json = JsonNode.Parse(await tool.FetchJsonAsync(_site.Url("/plain")))!.AsObject();

        Assert.Equal(["url", "status", "contentType", "text", "truncated"], json.Select(p => p.Key));
        Assert.Equal("text/plain", json["contentType"]!.GetValue<string>());
    }

    [Fact]
    public async Task CharsetFromTheHeader_IsUsedToDecode()
    {
        var tool = await StartAsync(AllowSite());

        var page = await tool.FetchAsync(_site.Url("/latin1"));

        Assert.Equal("Caf\u00e9", page.Title);
        Assert.Contains("Cr\u00e8me br\u00fbl\u00e9e", page.Text);
    }

    [Fact]
    public async Task PlainTextAndJson_ComeBackAsTheyAre()
    {
        var tool = await StartAsync(AllowSite());

        var plain = await tool.FetchAsync(_site.Url("/plain"));
        var json = await tool.FetchAsync(_site.Url("/json"));

        Assert.Equal("Just text,\n  kept  as it is.", plain.Text);
        Assert.Null(plain.Title);
        Assert.Equal("application/json", json.ContentType);
        Assert.Equal(42, JsonNode.Parse(json.Text)!["answer"]!.GetValue<int>());
    }

    [Fact]
    public async Task ErrorPage_IsReturnedWithItsStatus()
    {
        var tool = await StartAsync(AllowSite());

        var page = await tool.FetchAsync(_site.Url("/missing"));

        Assert.Equal(404, page.Status);
        Assert.Equal("Not found", page.Title);
        Assert.Contains("No such page.", page.Text);
    }

    [Theory]
    [InlineData("/image", "image/png")]
    [InlineData("/untyped", "binary data")]
    public async Task BinaryContent_IsRefused_SayingWhatItIs(string path, string said)
    {
        var tool = await StartAsync(AllowSite());

        var error = await tool.FailAsync(_site.Url(path));

        Assert.Contains(said, error);
        Assert.Contains("reads HTML, text and JSON only", error);
    }

    [Fact]
    public async Task LongText_IsCutAtMaxChars_AndSaysSo()
    {
        var tool = await StartAsync(AllowSite(("MaxChars", "1000")));

        var page = await tool.FetchAsync(_site.Url("/long"));

        Assert.True(page.Truncated);
        Assert.StartsWith(new string('x', 1000), page.Text);
        Assert.EndsWith("[… cut: the text is longer than 1000 characters]", page.Text);
        Assert.DoesNotContain(new string('x', 1001), page.Text);
    }

    [Fact]
    public async Task HugeBody_IsCutAtMaxBytes_WithoutReadingItWhole()
    {
        var tool = await StartAsync(AllowSite(("MaxBytes", "65536"), ("MaxChars", "1000000")));
        var watch = Stopwatch.StartNew();

        var page = await tool.FetchAsync(_site.Url("/huge"));

        Assert.True(page.Truncated);
        Assert.StartsWith(new string('a', 65_536) + "\n[… cut: only the first 65536 bytes", page.Text);
        // The site writes until the client goes away: the client stopped it, not its 8 GiB cap. (Its count is no
        // measure of what the client read: Kestrel notices the closed connection late, and writes on into nothing.)
        await _site.HugeStopped.Task.WaitAsync(TimeSpan.FromSeconds(15), Ct);
        Assert.InRange(_site.HugeBytesSent, 65_536, WebTestServer.HugeCap - 1);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}");
    }

    // ---- redirects

    [Fact]
    public async Task RedirectChain_IsFollowed_ToTheFinalUrl()
    {
        var tool = await StartAsync(AllowSite(("MaxRedirects", "4")));

        var page = await tool.FetchAsync(_site.Url("/redirect/3"));

        Assert.Equal(_site.Url("/page").AbsoluteUri, page.Url);
        Assert.Equal("The test page", page.Title);
    }

    [Fact]
    public async Task TooManyRedirects_StopAtMaxRedirects()
    {
        var tool = await StartAsync(AllowSite(("MaxRedirects", "2")));

        var error = await tool.FailAsync(_site.Url("/redirect/5"));

        Assert.Contains("redirected more than 2 times", error);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://localhost:{port}/page", "loopback")]
    [InlineData("http://[::1]:{port}/page", "loopback")]
    [InlineData("http://127.0.0.2:{port}/page", "loopback")]
    [InlineData("http://10.1.2.3/", "private-network")]
    [InlineData("http://[::ffff:192.168.0.1]/", "private-network")]
    [InlineData("file:///etc/passwd", "only http and https")]
    public async Task RedirectFromAnAllowedSite_ToARefusedAddress_IsRefused(string target, string reason)
    {
        var tool = await StartAsync(AllowSite());
        var to = target.Replace("{port}", _site.Port.ToString(), StringComparison.Ordinal);

        var error = await tool.FailAsync(_site.Url($"/to?url={Uri.EscapeDataString(to)}"));

        Assert.StartsWith("Refused", error);
        Assert.Contains(reason, error);
    }

    // ---- time

    [Theory]
    [InlineData("/slow")]
    [InlineData("/slow-body")]
    public async Task SlowSite_FailsAfterTheTimeout(string path)
    {
        var tool = await StartAsync(AllowSite(("Timeout", "00:00:01")));
        var watch = Stopwatch.StartNew();

        var error = await tool.FailAsync(_site.Url(path));

        Assert.Contains("did not answer within 1 s", error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    // ---- the guard

    [Theory]
    [InlineData("http://127.0.0.1:{port}/page", "loopback")]
    [InlineData("http://localhost:{port}/page", "loopback")]
    [InlineData("http://LocalHost.:{port}/page", "loopback")]
    [InlineData("http://app.localhost:{port}/page", "loopback")]
    [InlineData("http://2130706433:{port}/page", "loopback")]
    [InlineData("http://0x7f.1:{port}/page", "loopback")]
    [InlineData("http://[::1]:{port}/page", "loopback")]
    [InlineData("http://[::ffff:127.0.0.1]:{port}/page", "loopback")]
    [InlineData("http://0.0.0.0:{port}/page", "unspecified")]
    [InlineData("http://[::]:{port}/page", "unspecified")]
    [InlineData("http://10.0.0.1/", "private-network")]
    [InlineData("http://172.16.0.1/", "private-network")]
    [InlineData("http://172.31.255.254/", "private-network")]
    [InlineData("http://192.168.1.1/", "private-network")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://100.64.0.1/", "carrier-grade NAT")]
    [InlineData("http://100.100.100.200/", "carrier-grade NAT")]
    [InlineData("http://224.0.0.1/", "multicast")]
    [InlineData("http://[fc00::1]/", "unique local")]
    [InlineData("http://[fd00:ec2::254]/", "unique local")]
    [InlineData("http://[fe80::1]/", "link-local")]
    [InlineData("http://[ff02::1]/", "multicast")]
    [InlineData("http://[::ffff:10.0.0.1]/", "private-network")]
    [InlineData("http://[::ffff:169.254.169.254]/", "link-local")]
    [InlineData("http://[::ffff:a9fe:a9fe]/", "link-local")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/", "link-local")]
    public async Task InternalAddress_IsRefused_SayingWhy(string url, string reason)
    {
        var tool = await StartAsync(Guarded());

        var error = await tool.FailAsync(url.Replace("{port}", _site.Port.ToString(), StringComparison.Ordinal));

        Assert.StartsWith("Refused", error);
        Assert.Contains(reason, error);
        Assert.Contains("only public internet addresses can be fetched", error);
    }

    [Theory]
    [InlineData("ftp://example.com/file", "only http and https")]
    [InlineData("file:///etc/passwd", "only http and https")]
    [InlineData("/etc/passwd", "only http and https")]
    [InlineData("not a url", "not an absolute URL")]
    public async Task NonWebUrl_IsRefused(string url, string said)
    {
        var tool = await StartAsync(Guarded());

        Assert.Contains(said, await tool.FailAsync(url));
    }

    [Fact]
    public async Task UrlWithCredentials_IsRefused_WithoutRepeatingThem()
    {
        var tool = await StartAsync(AllowSite());

        var error = await tool.FailAsync($"http://admin:s3cret@127.0.0.1:{_site.Port}/page");

        Assert.Contains("user name or password", error);
        Assert.DoesNotContain("s3cret", error);
    }

    [Fact]
    public async Task NameThatResolvesToAPrivateAddress_IsRefused_WithoutSayingTheAddress()
    {
        var dns = new FakeDns { ["intranet.example"] = ["10.20.30.40"], ["mixed.example"] = ["93.184.215.14", "192.168.7.7"] };
        var tool = await StartAsync(Guarded(), dns);

        var intranet = await tool.FailAsync("http://intranet.example/wiki");
        var mixed = await tool.FailAsync("https://mixed.example/");

        Assert.Equal("Refused intranet.example: intranet.example resolves to a private-network address; only public internet addresses can be fetched.", intranet);
        Assert.DoesNotContain("10.20", intranet);
        Assert.Contains("mixed.example resolves to a private-network address", mixed);
        Assert.DoesNotContain("192.168", mixed);
    }

    [Fact]
    public async Task NameThatRebindsAfterTheCheck_IsRefusedAtConnect()
    {
        // Checked, it is 127.0.0.1 (allowed here); at connect time it has become 127.0.0.2, which is not.
        var dns = new FakeDns { ["rebind.example"] = ["127.0.0.1"] };
        dns.Then("rebind.example", "127.0.0.2");
        var tool = await StartAsync(Guarded(("AllowedNetworks:0", "127.0.0.1/32")), dns);

        var error = await tool.FailAsync($"http://rebind.example:{_site.Port}/page");

        Assert.Equal("Refused rebind.example: rebind.example resolves to a loopback address; only public internet addresses can be fetched.", error);
        Assert.Equal(2, dns.Lookups("rebind.example"));
    }

    [Fact]
    public async Task NameInAnAllowedNetwork_IsFetched_AtTheAddressThatWasChecked()
    {
        // Only the fake DNS knows this name: the page can only have come through the guard's own connect.
        var dns = new FakeDns { ["docs.example"] = ["127.0.0.1"] };
        var tool = await StartAsync(Guarded(("AllowedNetworks:0", "127.0.0.0/30")), dns);

        var page = await tool.FetchAsync(new Uri($"http://docs.example:{_site.Port}/page"));

        Assert.Equal("The test page", page.Title);
    }

    [Fact]
    public async Task AllowedHostPattern_IsFetched_WhateverItsAddress()
    {
        var dns = new FakeDns { ["wiki.corp.example"] = ["127.0.0.1"] };
        var tool = await StartAsync(Guarded(("AllowedHosts:0", "*.corp.example")), dns);

        var page = await tool.FetchAsync(new Uri($"http://wiki.corp.example:{_site.Port}/page"));
        var other = await tool.FailAsync($"http://localhost:{_site.Port}/page");

        Assert.Equal("The test page", page.Title);
        Assert.Contains("loopback", other);
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("169.253.255.255")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    public void PublicAddress_IsNotRefused(string address)
    {
        // Checked without a connection: nothing but 127.0.0.1 is ever contacted by these tests.
        Assert.Null(AddressRules.RefusalReason(IPAddress.Parse(address)));
    }

    // ---- wiring

    [Theory]
    [InlineData("AllowedNetworks:0", "not-a-network")]
    [InlineData("AllowedHosts:0", "http://example.com/")]
    [InlineData("Timeout", "00:00:00.01")]
    [InlineData("MaxBytes", "10")]
    public async Task InvalidOptions_StopTheStart(string key, string value)
    {
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(Guarded((key, value))));

        var failures = thrown is AggregateException all ? all.InnerExceptions : [thrown];
        Assert.All(failures, f => Assert.IsType<OptionsValidationException>(f));
        Assert.Contains(failures, f => f.Message.Contains(key.Split(':')[0], StringComparison.Ordinal));
    }

    [Fact]
    public void AgentServices_OfferFetchUrl_OnlyWhenEnabled_AsAnIdempotentTool()
    {
        static KernelFunction? FetchOf(bool? enabled)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:Agents"] = "Data Source=:memory:",
                [$"{FetchUrlOptions.SectionName}:Enabled"] = enabled?.ToString(),
            });
            builder.AddAgentServices();
            using var host = builder.Build();
            return host.Services.GetRequiredService<Kernel>().Plugins.TryGetFunction(WebPlugin.PluginName, WebPlugin.FetchUrl, out var found) ? found : null;
        }

        Assert.Null(FetchOf(null));
        Assert.Null(FetchOf(false));
        var fetch = FetchOf(true);
        Assert.NotNull(fetch);
        Assert.True(fetch.UnderlyingMethod?.IsDefined(typeof(IdempotentAttribute), inherit: false));
        Assert.Equal(["url"], fetch.Metadata.Parameters.Select(p => p.Name));
    }

    // ---- helpers

    private Dictionary<string, string?> AllowSite(params (string Key, string Value)[] more) =>
        Guarded([("AllowedHosts:0", "127.0.0.1"), .. more]);

    private static Dictionary<string, string?> Guarded(params (string Key, string Value)[] more)
    {
        var config = new Dictionary<string, string?>
        {
            [$"{FetchUrlOptions.SectionName}:Enabled"] = "true",
            // Generous for a loaded CI machine; the timeout tests set their own.
            [$"{FetchUrlOptions.SectionName}:Timeout"] = "00:00:20",
        };
        foreach (var (key, value) in more)
        {
            config[$"{FetchUrlOptions.SectionName}:{key}"] = value;
        }

        return config;
    }

    private async Task<FetchTool> StartAsync(Dictionary<string, string?> config, HostResolver? dns = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        if (dns is not null)
        {
            builder.Services.AddSingleton(dns);
        }

        builder.AddWebTools();
        builder.Services.AddKernel();
        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync(Ct);
        return new FetchTool(host.Services.GetRequiredService<Kernel>());
    }

    /// <summary>The tool as the conversation calls it: by plugin and name, with the model's arguments.</summary>
    private sealed class FetchTool(Kernel kernel)
    {
        public async Task<FetchUrlResult> FetchAsync(Uri url) =>
            (await InvokeAsync(url.AbsoluteUri)).GetValue<FetchUrlResult>()!;

        public async Task<string> FetchJsonAsync(Uri url)
        {
            var value = (await InvokeAsync(url.AbsoluteUri)).GetValue<object>()!;
            return JsonSerializer.Serialize(value, value.GetType(), AgentJson.Options);
        }

        public Task<string> FailAsync(Uri url) => FailAsync(url.AbsoluteUri);

        /// <summary>The message the model gets as the call's <c>tool_error</c>.</summary>
        public async Task<string> FailAsync(string url)
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => InvokeAsync(url));
            var cause = ex is KernelException && ex.InnerException is not null ? ex.InnerException : ex;
            Assert.IsAssignableFrom<FetchUrlException>(cause);
            return cause.Message;
        }

        private async Task<FunctionResult> InvokeAsync(string url)
        {
            var function = kernel.Plugins.GetFunction(WebPlugin.PluginName, WebPlugin.FetchUrl);
            return await function.InvokeAsync(kernel, new KernelArguments { ["url"] = url }, Ct);
        }
    }

    /// <summary>A DNS server of our own: fixed answers, and a name whose answer changes after the first lookup.</summary>
    private sealed class FakeDns : HostResolver
    {
        private readonly Dictionary<string, string[]> _answers = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, string[]> _later = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, int> _lookups = new(StringComparer.OrdinalIgnoreCase);

        public string[] this[string name]
        {
            set => _answers[name] = value;
        }

        public void Then(string name, params string[] addresses) => _later[name] = addresses;

        public int Lookups(string name)
        {
            lock (_lookups)
            {
                return _lookups.GetValueOrDefault(name);
            }
        }

        public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            int count;
            lock (_lookups)
            {
                count = _lookups[host] = _lookups.GetValueOrDefault(host) + 1;
            }

            var answer = count > 1 && _later.TryGetValue(host, out var later) ? later
                : _answers.TryGetValue(host, out var first) ? first
                : throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound);
            return Task.FromResult(answer.Select(IPAddress.Parse).ToArray());
        }
    }
}
