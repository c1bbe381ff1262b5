using Agents.Silo.Postgres;
using Agents.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using static Agents.Cluster.Tests.TestSupport;

namespace Agents.Cluster.Tests;

/// <summary>The ADO.NET reminder table, driven directly on its own database: every reminder query, ring ranges included.</summary>
public sealed class ReminderTableTests(PostgresServer postgres)
{
    [Fact]
    public async Task ReminderTableReadsWritesAndRanges()
    {
        var db = await postgres.CreateDatabaseAsync("reminders", Cancellation);
        await OrleansPostgresSchema.ApplyAsync(db, Cancellation);
        var services = new ServiceCollection();
        services.AddLogging();
        services.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = "reminder-contract";
            o.ServiceId = "reminder-contract";
        });
        services.UseAdoNetReminderService(o => o.Configure(x =>
        {
            x.Invariant = "Npgsql";
            x.ConnectionString = ForOrleans(db);
        }));
        await using var provider = services.BuildServiceProvider();
        var table = provider.GetRequiredService<IReminderTable>();
        await table.StartAsync(Cancellation);

        // Upsert creates, then replaces with a new ETag; a period beyond int milliseconds survives.
        var grain = GrainId.Create("reminder-contract", "grain-0");
        var start = Micro(DateTime.UtcNow.AddMinutes(1));
        var first = await table.UpsertRow(new ReminderEntry { GrainId = grain, ReminderName = "r", StartAt = start, Period = TimeSpan.FromDays(30) }, Cancellation);
        var second = await table.UpsertRow(new ReminderEntry { GrainId = grain, ReminderName = "r", StartAt = start, Period = TimeSpan.FromDays(40) }, Cancellation);
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.NotEqual(first, second);

        var row = await table.ReadRow(grain, "r", Cancellation);
        Assert.NotNull(row);
        Assert.Equal((grain, "r", start, TimeSpan.FromDays(40), second), (row.GrainId, row.ReminderName, row.StartAt, row.Period, row.ETag));
        Assert.Null(await table.ReadRow(grain, "missing", Cancellation));

        // Removal needs the current ETag.
        Assert.False(await table.RemoveRow(grain, "r", first!, Cancellation));
        Assert.True(await table.RemoveRow(grain, "r", second!, Cancellation));
        Assert.False(await table.RemoveRow(grain, "r", second!, Cancellation));
        Assert.Null(await table.ReadRow(grain, "r", Cancellation));

        // Ring ranges (begin, end], wrapping when begin >= end, against a reference over 40 grains.
        var grains = Enumerable.Range(0, 40).Select(i => GrainId.Create("reminder-contract", $"ring-{i}")).ToList();
        foreach (var g in grains)
        {
            await table.UpsertRow(new ReminderEntry { GrainId = g, ReminderName = "a", StartAt = start, Period = TimeSpan.FromSeconds(5) }, Cancellation);
            await table.UpsertRow(new ReminderEntry { GrainId = g, ReminderName = "b", StartAt = start, Period = TimeSpan.FromSeconds(5) }, Cancellation);
        }

        var ofFirst = await table.ReadRows(grains[0], Cancellation);
        Assert.Equal(["a", "b"], ofFirst.Reminders.Select(r => r.ReminderName).Order(StringComparer.Ordinal));

        var random = new Random(1234);
        var ranges = new List<(uint Begin, uint End)>
        {
            (0, 0), (0, uint.MaxValue), (uint.MaxValue, 0), (0x7FFF_FFF0, 0x8000_0010), (0xFFFF_FFF0, 0x10),
            (0x8000_0000, 0x7FFF_FFFF), (0x7FFF_FFFF, 0x8000_0000), (0x4000_0000, 0xC000_0000), (0xC000_0000, 0x4000_0000),
        };
        foreach (var g in grains.Take(5))
        {
            var h = g.GetUniformHashCode();
            ranges.AddRange([(h - 1, h), (h, h + 1), (h, h)]);
        }

        for (var i = 0; i < 20; i++)
        {
            ranges.Add(((uint)random.NextInt64(0, 1L << 32), (uint)random.NextInt64(0, 1L << 32)));
        }

        foreach (var (begin, end) in ranges)
        {
            var expected = grains.Where(g => InRange(g.GetUniformHashCode(), begin, end)).Select(g => g.ToString()).Order(StringComparer.Ordinal).ToList();
            var actual = (await table.ReadRows(begin, end, Cancellation)).Reminders.Where(r => r.ReminderName == "a").Select(r => r.GrainId.ToString()).Order(StringComparer.Ordinal).ToList();
            Assert.True(expected.SequenceEqual(actual), $"range ({begin:X8}, {end:X8}]: expected {expected.Count}, got {actual.Count}");
        }

        await table.TestOnlyClearTable(Cancellation);
        Assert.Empty((await table.ReadRows(0, 0, Cancellation)).Reminders);
    }

    /// <summary>Orleans' ring range (begin, end]: the whole ring when begin == end, wrapping when begin > end.</summary>
    private static bool InRange(uint hash, uint begin, uint end) => begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;

    private static DateTime Micro(DateTime time) => new(time.Ticks - (time.Ticks % 10), DateTimeKind.Utc);
}
