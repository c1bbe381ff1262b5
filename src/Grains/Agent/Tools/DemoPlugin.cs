using System.ComponentModel;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Tools;

/// <summary>The demo's tools: find restaurants, book a table. Offline and deterministic.</summary>
public sealed class DemoPlugin(IOptions<LlmOptions> options)
{
    public const string PluginName = "Demo";
    public const string SearchRestaurants = "search_restaurants";
    public const string MakeReservation = "make_reservation";

    private static readonly Restaurant[] Restaurants =
    [
        new("Trattoria Lumi", "Italian", 4.7, "$$", "0.6 km"),
        new("Golden Lotus", "Thai", 4.5, "$$", "1.1 km"),
        new("Ferment & Fire", "Modern Nordic", 4.8, "$$$", "2.3 km"),
        new("Casa Verde", "Mexican", 4.3, "$", "0.9 km"),
        new("Sakura Bar", "Japanese", 4.6, "$$$", "1.7 km"),
    ];

    [KernelFunction(SearchRestaurants), Idempotent]
    [Description("Search restaurants near the user that have tables free tonight.")]
    public async Task<IReadOnlyList<Restaurant>> SearchAsync(
        [Description("What the user wants: cuisine, mood, budget.")] string query,
        CancellationToken cancellationToken)
    {
        await Task.Delay(options.Value.DemoToolLatency, cancellationToken);
        // Whole words only, so that "Can you…" finds no Mexican place.
        var words = query.Split([' ', ',', '.', '!', '?', '\'', '"'], StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var matches = Restaurants
            .Where(r => $"{r.Name} {r.Cuisine}".Split(' ').Any(words.Contains))
            .ToList();
        return (matches.Count > 0 ? matches : Restaurants.OrderByDescending(r => r.Rating).Take(3)).ToList();
    }

    [KernelFunction(MakeReservation)]
    [Description("Book a table. This changes the world: the user must approve it.")]
    public async Task<Reservation> ReserveAsync(
        [Description("The restaurant's name.")] string restaurant,
        [Description("The time, such as 19:30.")] string time,
        [Description("How many people.")] int people,
        KernelArguments arguments,
        CancellationToken cancellationToken)
    {
        if (people is < 1 or > 20)
        {
            throw new ArgumentOutOfRangeException(nameof(people), people, "A table is for 1 to 20 people.");
        }

        await Task.Delay(options.Value.DemoToolLatency, cancellationToken);
        // The call id is the idempotency key a real booking API would get: the same call, the same booking.
        var key = ToolCall.IdOf(arguments) ?? Guid.NewGuid().ToString();
        var code = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
        return new Reservation($"R-{code}", restaurant, time, people);
    }

    public sealed record Restaurant(string Name, string Cuisine, double Rating, string Price, string Distance);

    public sealed record Reservation(string Confirmation, string Restaurant, string Time, int People);
}
