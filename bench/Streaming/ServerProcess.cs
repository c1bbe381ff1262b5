using System.Diagnostics;
using Agents.Testing;

namespace Agents.Bench.Streaming;

/// <summary>
/// A server the bench measures, in a process of its own so that its CPU time is the server's alone: the gateway
/// (<c>Agents.Api</c>), a silo (<c>Agents.Silo</c>) or one of the bench's baseline servers. Ready once its
/// <c>/readyz</c> answers 200.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private static readonly string Configuration =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    private readonly Process _process;
    private readonly StreamWriter _log;

    private ServerProcess(string name, Process process, Uri baseAddress, StreamWriter log, string logPath)
    {
        Name = name;
        _process = process;
        BaseAddress = baseAddress;
        _log = log;
        LogPath = logPath;
    }

    public static string ApiPath { get; } = Built("Api", "Agents.Api.dll");

    public static string SiloPath { get; } = Built("Silo", "Agents.Silo.dll");

    public static string BenchPath { get; } = Path.Combine(AppContext.BaseDirectory, "Agents.Bench.dll");

    public string Name { get; }

    public Uri BaseAddress { get; }

    public string LogPath { get; }

    public int Id => _process.Id;

    /// <summary>CPU time the process has used so far (user and kernel).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>The process's resident memory now.</summary>
    public long ResidentBytes
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    public static async Task<ServerProcess> StartAsync(
        string name, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string> settings, string directory, CancellationToken cancellationToken)
    {
        var port = TestEnvironment.FreePort();
        var info = new ProcessStartInfo("dotnet", [dll, .. args])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        var logPath = Path.Combine(directory, $"{name}.log");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{name} did not start.");
        ChildProcesses.Track(process);
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(name, process, new Uri($"http://127.0.0.1:{port}"), log, logPath);
        await server.WaitReadyAsync(cancellationToken);
        return server;
    }

    /// <summary>Runs <paramref name="dll"/> with <paramref name="args"/> to its end (a migration, say).</summary>
    public static async Task RunAsync(string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{dll} did not start.");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(dll)} {string.Join(' ', args)} exited {process.ExitCode}: {await output}{await errors}");
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, as when a machine dies.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>
    /// Ends the process at once: everything the bench measured is durable or no longer needed, and a graceful Orleans
    /// shutdown takes seconds per process.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        await _log.DisposeAsync();
    }

    private static string Built(string project, string dll) =>
        Path.Combine(TestEnvironment.RepositoryRoot, "src", project, "bin", Configuration, "net10.0", dll);

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before it was ready; see {LogPath}:\n{Tail()}");
            }

            try
            {
                using var response = await http.GetAsync("/readyz", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"{Name} was not ready within 90 s; see {LogPath}:\n{Tail()}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private string Tail()
    {
        lock (_log)
        {
            return string.Join('\n', File.ReadLines(LogPath).TakeLast(30));
        }
    }
}
