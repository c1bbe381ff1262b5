namespace Agents.Api.Tests;

/// <summary>The single-node executable stopped as an orchestrator stops it (SIGTERM).</summary>
public sealed class GracefulStopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AStopAtRest_ExitsZero_AndLogsNoError()
    {
        // At rest every conversation-stream queue has a read waiting for an event (WaitingStreamQueueGrain). A stop
        // that cancelled those reads logged two errors per queue (Orleans' receiver and its retry loop).
        var directory = TestEnvironment.NewTempDirectory();
        await using var api = await ApiProcess.StartAsync(directory, TestEnvironment.FreePort(), new Dictionary<string, string>(), Ct);

        Assert.Equal(0, await api.StopAsync(Ct));

        var log = await api.ReadLogAsync(Ct);
        Assert.DoesNotContain(log, line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal));
    }
}
