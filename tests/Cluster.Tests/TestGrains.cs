using System.Collections.Concurrent;
using Orleans.Runtime;

namespace Agents.Cluster.Tests;

/// <summary>Answers with the address of the silo its activation lives on.</summary>
[Alias("Agents.Cluster.Tests.IPingGrain")]
public interface IPingGrain : IGrainWithStringKey
{
    [Alias("PingAsync")]
    Task<string> PingAsync();
}

public sealed class PingGrain(ILocalSiloDetails silo) : Grain, IPingGrain
{
    public Task<string> PingAsync() => Task.FromResult(silo.SiloAddress.ToString());
}

[GenerateSerializer]
[Alias("Agents.Cluster.Tests.CounterState")]
public sealed class CounterState
{
    [Id(0)]
    public int Value { get; set; }
}

/// <summary>A counter kept in ADO.NET grain storage <see cref="ClusterFixture.StorageName"/>.</summary>
[Alias("Agents.Cluster.Tests.ICounterGrain")]
public interface ICounterGrain : IGrainWithStringKey
{
    [Alias("GetAsync")]
    Task<int> GetAsync();

    [Alias("SetAsync")]
    Task SetAsync(int value);

    [Alias("ClearAsync")]
    Task ClearAsync();

    /// <summary>The state's ETag and whether a record exists, as the storage provider last reported them.</summary>
    [Alias("GetStorageInfoAsync")]
    Task<(string? ETag, bool RecordExists)> GetStorageInfoAsync();

    [Alias("DeactivateAsync")]
    Task DeactivateAsync();
}

public sealed class CounterGrain([PersistentState("counter", ClusterFixture.StorageName)] IPersistentState<CounterState> state)
    : Grain, ICounterGrain
{
    public Task<int> GetAsync() => Task.FromResult(state.State.Value);

    public Task SetAsync(int value)
    {
        state.State.Value = value;
        return state.WriteStateAsync();
    }

    public Task ClearAsync() => state.ClearStateAsync();

    public Task<(string? ETag, bool RecordExists)> GetStorageInfoAsync() => Task.FromResult((state.Etag, state.RecordExists));

    public Task DeactivateAsync()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>Registers ADO.NET reminders on itself and counts their ticks in <see cref="ReminderGrain.Ticks"/>.</summary>
[Alias("Agents.Cluster.Tests.IReminderGrain")]
public interface IReminderGrain : IGrainWithStringKey
{
    [Alias("StartAsync")]
    Task StartAsync(string name, TimeSpan dueTime, TimeSpan period);

    [Alias("StopAsync")]
    Task<bool> StopAsync(string name);

    [Alias("ListAsync")]
    Task<string[]> ListAsync();
}

public sealed class ReminderGrain : Grain, IReminderGrain, IRemindable
{
    /// <summary>Ticks by "grain key/reminder name"; both silos run in the test process, so this sees every tick.</summary>
    public static ConcurrentDictionary<string, int> Ticks { get; } = new();

    public static int TicksOf(string key, string name) => Ticks.GetValueOrDefault($"{key}/{name}");

    public Task StartAsync(string name, TimeSpan dueTime, TimeSpan period) => this.RegisterOrUpdateReminder(name, dueTime, period);

    public async Task<bool> StopAsync(string name)
    {
        if (await this.GetReminder(name) is not { } reminder)
        {
            return false;
        }

        await this.UnregisterReminder(reminder);
        return true;
    }

    public async Task<string[]> ListAsync() => [.. (await this.GetReminders()).Select(r => r.ReminderName).Order(StringComparer.Ordinal)];

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        Ticks.AddOrUpdate($"{this.GetPrimaryKeyString()}/{reminderName}", 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
