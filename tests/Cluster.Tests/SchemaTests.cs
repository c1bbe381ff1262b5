using System.Reflection;
using System.Text.RegularExpressions;
using Agents.Silo.Postgres;
using Agents.Testing;
using Orleans.Runtime.MembershipService;
using Orleans.Storage;
using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

public sealed partial class SchemaTests(PostgresServer postgres)
{
    /// <summary>
    /// The keys the providers in our Orleans packages insist on, read the way they read them: every property of their
    /// internal DbStoredQueries (clustering, reminders), and the keys named in the grain storage's start-up query.
    /// An Orleans upgrade that adds a key fails here before it stops a silo.
    /// </summary>
    public static IEnumerable<string> RequiredKeys()
    {
        foreach (var assembly in new[] { typeof(AdoNetClusteringTable).Assembly, ReminderAssembly() })
        {
            var stored = assembly.GetTypes().Single(t => t.Name == "DbStoredQueries");
            foreach (var property in stored.GetProperties(BindingFlags.Instance | BindingFlags.NonPublic))
            {
                yield return property.Name;
            }
        }

        foreach (Match match in StorageKeyPattern().Matches(AdoNetGrainStorage.DefaultInitializationQuery))
        {
            yield return match.Groups[1].Value;
        }
    }

    /// <summary>Keys a provider uses when present and does without otherwise.</summary>
    public static readonly string[] OptionalKeys = ["CleanupDefunctSiloEntryKey"];

    [Fact]
    public void ProvidesEveryKeyTheProvidersRead()
    {
        var required = RequiredKeys().ToHashSet(StringComparer.Ordinal);
        Assert.Equal(20, required.Count);
        Assert.Empty(required.Except(OrleansPostgresSchema.QueryKeys));
        Assert.Equal(OptionalKeys, OrleansPostgresSchema.QueryKeys.Except(required));

        // The optional key is one this Orleans build looks for.
        var stored = typeof(AdoNetClusteringTable).Assembly.GetTypes().Single(t => t.Name == "DbStoredQueries");
        Assert.NotNull(stored.GetMethod("GetCleanupDefunctSiloEntryQuery", BindingFlags.Instance | BindingFlags.NonPublic));
    }

    [Fact]
    public async Task ApplyIsIdempotentAndSafeConcurrently()
    {
        var db = await postgres.CreateDatabaseAsync("schema", Cancellation);
        Assert.Null(await OrleansPostgresSchema.ReadVersionAsync(db, Cancellation));

        // Four at once on an empty database (as silos starting together would), then twice more.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => OrleansPostgresSchema.ApplyAsync(db, Cancellation)));
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);

        Assert.Equal(OrleansPostgresSchema.Version, await OrleansPostgresSchema.ReadVersionAsync(db, Cancellation));
        Assert.Equal(OrleansPostgresSchema.QueryKeys.Count, await ScalarAsync<int>(db, "SELECT count(*) FROM OrleansQuery"));
        foreach (var key in RequiredKeys())
        {
            var text = await ScalarAsync<string>(db, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = @key", ("key", key));
            Assert.False(string.IsNullOrWhiteSpace(text), key);
        }

        foreach (var table in new[] { "orleans_membership_version", "orleans_membership", "orleans_reminder", "orleans_grain_state", "orleans_schema_version" })
        {
            Assert.True(await ScalarAsync<bool>(db, "SELECT to_regclass(@t) IS NOT NULL", ("t", table)), table);
        }
    }

    [Fact]
    public async Task ApplyReplacesOlderQueryText()
    {
        var db = await postgres.CreateDatabaseAsync("schema", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        var original = await ScalarAsync<string>(db, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'UpsertReminderRowKey'");
        await ExecuteAsync(db, "UPDATE OrleansQuery SET QueryText = 'SELECT 1 AS old' WHERE QueryKey = 'UpsertReminderRowKey'");
        await ExecuteAsync(db, "DELETE FROM OrleansQuery WHERE QueryKey = 'GatewaysQueryKey'");

        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);

        Assert.Equal(original, await ScalarAsync<string>(db, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'UpsertReminderRowKey'"));
        Assert.Equal(OrleansPostgresSchema.QueryKeys.Count, await ScalarAsync<int>(db, "SELECT count(*) FROM OrleansQuery"));
    }

    [Fact]
    public async Task ApplyLeavesANewerSchemaAlone()
    {
        var db = await postgres.CreateDatabaseAsync("schema", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        await ExecuteAsync(db, "UPDATE orleans_schema_version SET version = @v", ("v", OrleansPostgresSchema.Version + 1));
        await ExecuteAsync(db, "UPDATE OrleansQuery SET QueryText = 'newer text' WHERE QueryKey = 'ReadFromStorageKey'");

        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);

        Assert.Equal(OrleansPostgresSchema.Version + 1, await OrleansPostgresSchema.ReadVersionAsync(db, Cancellation));
        Assert.Equal("newer text", await ScalarAsync<string>(db, "SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'ReadFromStorageKey'"));
    }

    private static Assembly ReminderAssembly() => Assembly.Load("Orleans.Reminders.AdoNet");

    [GeneratedRegex("QueryKey = '([A-Za-z0-9]+)'")]
    private static partial Regex StorageKeyPattern();
}
