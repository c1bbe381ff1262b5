using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Agents.Api.Identity;

/// <summary>The signing key of this gateway, and the development tokens signed with it.</summary>
public sealed class TokenIssuer
{
    /// <summary>The claim that names the user.</summary>
    public const string UserClaim = JwtRegisteredClaimNames.Sub;

    private const int MinKeyBytes = 32;
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;

    public TokenIssuer(AuthOptions options, bool generateMissingKey, TimeProvider time)
    {
        _options = options;
        _time = time;
        byte[] key;
        if (!string.IsNullOrEmpty(options.SigningKey))
        {
            key = Encoding.UTF8.GetBytes(options.SigningKey);
            if (key.Length < MinKeyBytes)
            {
                throw new InvalidOperationException($"Auth:SigningKey must be at least {MinKeyBytes} bytes (UTF-8); it has {key.Length}.");
            }

            IsKeyGenerated = false;
        }
        else if (generateMissingKey)
        {
            key = RandomNumberGenerator.GetBytes(MinKeyBytes);
            IsKeyGenerated = true;
        }
        else
        {
            throw new InvalidOperationException(
                "Auth:SigningKey is required in Orleans:Mode=Cluster: every gateway must check tokens with the same key.");
        }

        SigningKey = new SymmetricSecurityKey(key) { KeyId = Convert.ToHexString(SHA256.HashData(key))[..16] };
    }

    public SymmetricSecurityKey SigningKey { get; }

    /// <summary>True when no key was configured and this process made one up (tokens die with it).</summary>
    public bool IsKeyGenerated { get; }

    public TokenValidationParameters ValidationParameters => new()
    {
        ValidIssuer = _options.Issuer,
        ValidAudience = _options.Audience,
        IssuerSigningKey = SigningKey,
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        NameClaimType = UserClaim,
        ClockSkew = TimeSpan.FromMinutes(1),
    };

    /// <summary>A token whose <c>sub</c> is <paramref name="user"/>.</summary>
    public (string Token, DateTimeOffset ExpiresAt) Issue(string user)
    {
        var now = _time.GetUtcNow();
        var expires = now + _options.DevTokenLifetime;
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Audience,
            Subject = new ClaimsIdentity([new Claim(UserClaim, user)]),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(SigningKey, SecurityAlgorithms.HmacSha256),
        });
        return (token, expires);
    }
}
