using System.Net.Http.Json;

namespace Agents.Api.Tests;

/// <summary>Development tokens (<c>POST /api/dev/token</c>), as the tests' clients sign in.</summary>
internal static class DevTokens
{
    /// <summary>A token for <paramref name="user"/> from the gateway at <paramref name="http"/>'s base address.</summary>
    public static async Task<string> FetchAsync(HttpClient http, string user, CancellationToken cancellationToken = default)
    {
        using var response = await http.PostAsJsonAsync("/api/dev/token", new { user }, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TokenResponse>(cancellationToken))!.Token;
    }

    private sealed record TokenResponse(string Token);
}
