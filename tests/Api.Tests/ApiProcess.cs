using System.Diagnostics;

namespace Agents.Api.Tests;

/// <summary>
/// The real single-node executable (gateway and co-hosted silo) in its own process on a given SQLite file and a
/// fixed HTTP port, so a test can kill it (SIGKILL) and start another one that clients find at the same address.
/// </summary>
internal sealed class ApiProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ApiProcess(Process process, Uri baseAddress, string logPath)
    {
        _process = process;
        BaseAddress = baseAddress;
        LogPath = logPath;
    }

    /// <summary>The app built alongside these tests, in the same configuration.</summary>
    public static string ApiPath { get; } = Path.Combine(
        TestEnvironment.RepositoryRoot, "src", "Api", "bin",
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug",
        "net10.0", "Agents.Api.dll");

    public Uri BaseAddress { get; }

    /// <summary>The process's standard output and error.</summary>
    public string LogPath { get; }

    /// <summary>Starts the app and waits until <c>/readyz</c> answers 200.</summary>
    public static async Task<ApiProcess> StartAsync(string directory, int httpPort, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet", [ApiPath])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ConnectionStrings__Agents"] = $"Data Source={Path.Combine(directory, "agents.db")}";
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        var log = Path.Combine(directory, $"api-{Guid.NewGuid():N}.log");
        var process = Process.Start(info) ?? throw new InvalidOperationException("The app did not start.");
        ChildProcesses.Track(process);
        var writer = new StreamWriter(log) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (writer) { writer.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (writer) { writer.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var api = new ApiProcess(process, new Uri($"http://127.0.0.1:{httpPort}"), log);
        using var http = new HttpClient { BaseAddress = api.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The app exited with {process.ExitCode}; see {log}.");
            }

            try
            {
                using var response = await http.GetAsync("/readyz", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return api;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                await api.DisposeAsync();
                throw new TimeoutException($"The app was not ready in 60 s; see {log}.");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>SIGTERM, as an orchestrator stops a process: waits for it to exit and returns its exit code.</summary>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        using (var signal = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            await signal.WaitForExitAsync(cancellationToken);
        }

        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>The lines the process wrote so far (the file stays open for writing while it runs).</summary>
    public async Task<string[]> ReadLogAsync(CancellationToken cancellationToken)
    {
        await using var file = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(file);
        return (await reader.ReadToEndAsync(cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>SIGKILL: the process gets no chance to flush, finish or say goodbye.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }
}
