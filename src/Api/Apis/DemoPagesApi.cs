using System.Net;
using System.Text;
using Agents.Grains.Agent;
using Agents.Grains.Agent.Tools.Web;
using Agents.Silo;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Agents.Api.Apis;

/// <summary>
/// The Demo model's research sources, served by the single-node app itself so that the scenario runs offline and its
/// sub-agents read real pages over HTTP with <c>fetch_url</c>. Mapped only with the Demo model.
/// </summary>
public static class DemoPagesApi
{
    /// <summary>
    /// With the Demo model on a single node, and unless configured otherwise, <c>fetch_url</c> is on and may read this
    /// machine's loopback address, where the app serves the research scenario's sources. Nothing else changes: every other
    /// private or local address stays refused, and with a real model the tool is off until an operator enables it.
    /// </summary>
    public static void AddDemoDefaults(ConfigurationManager configuration)
    {
        var llm = configuration.GetSection(LlmOptions.SectionName).Get<LlmOptions>() ?? new LlmOptions();
        var orleans = configuration.GetSection(OrleansHostOptions.SectionName).Get<OrleansHostOptions>() ?? new OrleansHostOptions();
        if (llm.Provider != ModelProvider.Demo || orleans.Mode != OrleansMode.Single
            || configuration[$"{FetchUrlOptions.SectionName}:Enabled"] is not null)
        {
            return;
        }

        configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{FetchUrlOptions.SectionName}:Enabled"] = "true",
            [$"{FetchUrlOptions.SectionName}:AllowedHosts:0"] = "127.0.0.1",
        });
    }

    public static WebApplication MapDemoPages(this WebApplication app)
    {
        var llm = app.Configuration.GetSection(LlmOptions.SectionName).Get<LlmOptions>() ?? new LlmOptions();
        if (llm.Provider != ModelProvider.Demo)
        {
            return app;
        }

        app.MapGet($"/{DemoResearch.PagePath}/{{topic}}/{{angle}}", (string topic, string angle) =>
        {
            var (title, paragraphs) = DemoResearch.Page(topic, angle);
            var html = new StringBuilder("<!doctype html><html><head><meta charset=\"utf-8\"><title>")
                .Append(WebUtility.HtmlEncode(title)).Append("</title><style>body{font-family:sans-serif}</style></head><body><h1>")
                .Append(WebUtility.HtmlEncode(title)).Append("</h1>");
            foreach (var paragraph in paragraphs)
            {
                html.Append("<p>").Append(WebUtility.HtmlEncode(paragraph)).Append("</p>");
            }

            return TypedResults.Content(html.Append("</body></html>").ToString(), "text/html; charset=utf-8");
        }).AllowAnonymous().WithName("DemoResearchPage").ExcludeFromDescription();

        // The sources' address is known once the server listens (a port of 0 is chosen then).
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var site = app.Services.GetService<DemoSite>();
            var listening = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            if (site is not null && listening.Select(Loopback).FirstOrDefault(u => u?.Scheme == Uri.UriSchemeHttp) is { } address)
            {
                site.BaseAddress = address;
            }
        });
        return app;
    }

    /// <summary>A listening address as this machine reaches it: a wildcard host is the loopback address.</summary>
    private static Uri? Loopback(string address)
    {
        var wildcard = address.IndexOf("://", StringComparison.Ordinal) is var i and >= 0 ? address[(i + 3)..].Split(':')[0] : "";
        var reachable = wildcard is "+" or "*" or "0.0.0.0" or "[" ? address.Replace($"://{wildcard}", "://127.0.0.1", StringComparison.Ordinal) : address;
        if (reachable.Contains("://[::]", StringComparison.Ordinal))
        {
            reachable = reachable.Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal);
        }

        return Uri.TryCreate(reachable, UriKind.Absolute, out var uri) ? new Uri(uri.GetLeftPart(UriPartial.Authority) + "/") : null;
    }
}
