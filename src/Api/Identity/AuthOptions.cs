using System.ComponentModel.DataAnnotations;

namespace Agents.Api.Identity;

/// <summary>Who may call the API; bound from <c>Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>
    /// The HMAC-SHA256 key tokens are signed and checked with (its UTF-8 bytes, at least 32). Every gateway of a
    /// cluster needs the same one. When absent in <c>Orleans:Mode=Single</c>, a random key is made at start:
    /// tokens then last only as long as the process.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>
    /// Whether <c>POST /api/dev/token</c> hands out a token for any user name. Default: true in
    /// <c>Orleans:Mode=Single</c>, false in <c>Cluster</c>. Never turn it on where strangers can reach the service.
    /// </summary>
    public bool? DevTokens { get; set; }

    /// <summary>
    /// Lets <see cref="DevTokens"/> be on in <c>Orleans:Mode=Cluster</c>. Without it a cluster gateway with
    /// <c>Auth:DevTokens=true</c> refuses to start: a cluster is where strangers can reach the service, and a dev
    /// token is anyone's identity for the asking.
    /// </summary>
    public bool AllowDevTokensInCluster { get; set; }

    [Required]
    public string Issuer { get; set; } = "agents";

    [Required]
    public string Audience { get; set; } = "agents";

    /// <summary>How long a development token is valid.</summary>
    public TimeSpan DevTokenLifetime { get; set; } = TimeSpan.FromHours(12);
}
