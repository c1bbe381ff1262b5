using System.Diagnostics;
using Agents.Grains.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Agents.Testing;

/// <summary>
/// The real silo executable in its own process, on a given database file, so a test can kill it (SIGKILL,
/// no graceful shutdown) and start another on the same file.
/// </summary>
internal sealed class SiloProcess : IAsyncDisposable
{
    private bool _disposed;

    private readonly Process _process;

    private SiloProcess(Process process, int siloPort, int gatewayPort, string log)
    {
        _process = process;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        LogPath = log;
    }

    /// <summary>The silo built alongside these tests, in the same configuration.</summary>
    public static string SiloPath { get; } = Path.Combine(
        TestEnvironment.RepositoryRoot, "src", "Silo", "bin",
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug",
        "net10.0", "Agents.Silo.dll");

    public int SiloPort { get; }

    public int GatewayPort { get; }

    public string LogPath { get; }

    public static SiloProcess Start(string directory, IReadOnlyDictionary<string, string> settings, int gatewayPort)
    {
        var info = new ProcessStartInfo("dotnet", [SiloPath])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ConnectionStrings__Agents"] = $"Data Source={Path.Combine(directory, "agents.db")}";
        var siloPort = TestEnvironment.FreePort();
        info.Environment["Orleans__SiloPort"] = siloPort.ToString();
        info.Environment["Orleans__GatewayPort"] = gatewayPort.ToString();
        // Its health endpoints on a port of their own: silos of tests running side by side must not collide.
        info.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Logging__LogLevel__Agents"] = "Information";
        // Tests run many conversations as one user; a test about the cap sets its own.
        info.Environment["Agent__MaxRunningConversationsPerUser"] = "1000000";
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        var log = Path.Combine(directory, $"silo-{Guid.NewGuid():N}.log");
        var process = Process.Start(info) ?? throw new InvalidOperationException("The silo did not start.");
        ChildProcesses.Track(process);
        var writer = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (writer) { writer.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (writer) { writer.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new SiloProcess(process, siloPort, gatewayPort, log);
    }

    /// <summary>SIGKILL: the process gets no chance to flush, finish or say goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>An Orleans client of this silo, connected once the silo accepts it.</summary>
    public Task<IHost> ConnectAsync(CancellationToken cancellationToken) => ConnectAsync([GatewayPort], "agents", cancellationToken);

    /// <summary>An Orleans client of the silos behind <paramref name="gatewayPorts"/>, connected once one of them accepts it.</summary>
    public static async Task<IHost> ConnectAsync(int[] gatewayPorts, string clusterId, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            // A fresh cluster's first calls, with the whole suite on two cores, can outlast Orleans' 30 s response timeout.
            builder.UseOrleansClient(client => client
                .UseLocalhostClustering(gatewayPorts, serviceId: "agents", clusterId: clusterId)
                .Configure<Orleans.Configuration.ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(2)));
            var host = builder.Build();
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                await host.StartAsync(timeout.Token);
                return host;
            }
            catch (Exception) when (DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
            {
                host.Dispose();
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>Runs <c>Agents.Silo migrate</c> with <paramref name="settings"/> (environment form) and checks it exits 0.</summary>
    public static async Task MigrateAsync(IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet", [SiloPath, "migrate"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("migrate did not start.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"migrate exited {process.ExitCode}: {await output}{await errors}");
        }
    }

    /// <summary>A reader of the same database file, as a second process would read it.</summary>
    public static SqliteEventStore OpenStore(string directory) =>
        new(Options.Create(new StorageOptions { ConnectionString = $"Data Source={Path.Combine(directory, "agents.db")}" }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<SqliteEventStore>.Instance);
}
