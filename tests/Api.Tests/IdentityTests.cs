using System.Net;
using System.Net.Http.Json;
using Agents.Api.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Agents.Api.Tests;

/// <summary>Identity set-ups other than the fixture's, on small apps without Orleans.</summary>
public sealed class IdentityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false, null, HttpStatusCode.NotFound)]
    [InlineData(false, "true", HttpStatusCode.OK)]
    [InlineData(true, null, HttpStatusCode.OK)]
    [InlineData(true, "false", HttpStatusCode.NotFound)]
    public async Task DevTokenRoute_ExistsOnlyWhileDevTokensIsOn(bool singleNode, string? devTokens, HttpStatusCode expected)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Auth:SigningKey"] = "a-test-signing-key-that-is-long-enough-for-hs256",
            ["Auth:DevTokens"] = devTokens,
        });
        builder.AddAgentIdentity(singleNode);
        await using var app = builder.Build();
        app.MapDevTokenApi();
        await app.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using var response = await http.PostAsJsonAsync("/api/dev/token", new { user = "alice" }, Ct);
        Assert.Equal(expected, response.StatusCode);
        await app.StopAsync(Ct);
    }

    [Fact]
    public void ClusterMode_WithoutASigningKey_RefusesToStart()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new TokenIssuer(new AuthOptions(), generateMissingKey: false, TimeProvider.System));
        Assert.Contains("Auth:SigningKey", error.Message);
        Assert.Throws<InvalidOperationException>(() => new TokenIssuer(new AuthOptions { SigningKey = "short" }, generateMissingKey: true, TimeProvider.System));
        Assert.True(new TokenIssuer(new AuthOptions(), generateMissingKey: true, TimeProvider.System).IsKeyGenerated);
    }
}
