using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Agents.Testing;

/// <summary>
/// A throwaway PostgreSQL server for one test run: a fresh data directory under the temp folder, trust
/// authentication, a free loopback port, no fsync. It starts on the first <see cref="CreateDatabaseAsync"/>
/// (or <see cref="StartAsync"/>); dispose stops it and deletes the directory. A test can take it down mid-run with
/// <see cref="StopAsync"/> and bring it back, same data and port, with <see cref="StartAsync"/>.
/// </summary>
/// <remarks>
/// Uses the Debian server binaries under <c>/usr/lib/postgresql/*/bin</c> (<c>apt-get install -y postgresql</c>),
/// or the directory named by <c>POSTGRES_BIN_DIR</c>. As root it runs them as the <c>postgres</c> user, since
/// PostgreSQL refuses to run as root. Needs only Npgsql and the BCL, so any test project can link this file;
/// with xunit v3 it can serve as an assembly fixture as is (parameterless constructor, <see cref="IAsyncDisposable"/>).
/// Servers left behind by a test process that died are stopped and deleted by the next start.
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string DirectoryPrefix = "agents-pg-";
    private const string ServiceUser = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly Lock _lock = new();
    private Task? _start;
    private int _databaseCount;
    private bool _disposed;
    private string? _binDirectory;
    private string? _serverOptions;

    /// <summary>
    /// Whether the server flushes like a production one (<c>fsync</c>, synchronous commit, full page writes):
    /// what benchmarks need to measure real commit costs. Off by default: tests need a fast throwaway.
    /// </summary>
    public bool Durable { get; init; }

    /// <summary>The data directory (also the Unix socket directory); set once started.</summary>
    public string? DataDirectory { get; private set; }

    /// <summary>The loopback TCP port; set once started.</summary>
    public int Port { get; private set; }

    /// <summary>A connection string to the server's <c>postgres</c> database as the superuser; valid once started.</summary>
    public string AdminConnectionString => BuildConnectionString("postgres");

    /// <summary>
    /// Starts the server unless it is already up; after <see cref="StopAsync"/>, starts it again on the same data
    /// directory and port. Safe to call concurrently and many times.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_lock)
        {
            if (_start is null || _start.IsFaulted || _start.IsCanceled)
            {
                _start = DataDirectory is null ? StartCoreAsync(cancellationToken) : RestartCoreAsync(cancellationToken);
            }

            return _start;
        }
    }

    /// <summary>
    /// Takes the server down at once, as a crashed or unplugged database (<c>pg_ctl stop -m immediate</c>): open
    /// connections break without a goodbye and new ones are refused. Its data stays; <see cref="StartAsync"/>
    /// brings it back after crash recovery, with every acknowledged commit.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Task start;
        lock (_lock)
        {
            start = _start ?? throw new InvalidOperationException("The PostgreSQL test server is not started.");
        }

        await start;
        await RunServerToolAsync(_binDirectory!, "pg_ctl", ["stop", "-w", "-t", "30", "-m", "immediate", "-D", DataDirectory!], cancellationToken);
        lock (_lock)
        {
            if (_start == start)
            {
                _start = null;
            }
        }
    }

    /// <summary>Creates a new, empty database (starting the server if needed) and returns a connection string to it.</summary>
    /// <param name="prefix">The start of the database name, for reading server logs; letters, digits and underscores.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<string> CreateDatabaseAsync(string prefix = "test", CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        var name = $"{Sanitize(prefix)}_{Interlocked.Increment(ref _databaseCount)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        return BuildConnectionString(name);
    }

    /// <summary>Stops the server and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Task? start;
        lock (_lock)
        {
            start = _start;
        }

        if (start is not null)
        {
            try
            {
                await start;
            }
            catch (Exception)
            {
                // A failed start cleans up after itself.
            }
        }

        if (DataDirectory is { } directory && _binDirectory is { } bin)
        {
            NpgsqlConnection.ClearAllPools();
            await StopAndDeleteAsync(bin, directory);
        }
    }

    private string BuildConnectionString(string database)
    {
        if (Port == 0)
        {
            throw new InvalidOperationException("The PostgreSQL test server is not started; call StartAsync or CreateDatabaseAsync first.");
        }

        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = ServiceUser,
            Database = database,
            Timeout = 15,
        }.ConnectionString;
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDirectory();
        if (Environment.IsPrivilegedProcess && !UserExists(ServiceUser))
        {
            throw new InvalidOperationException(
                $"Running as root, but there is no '{ServiceUser}' user to run PostgreSQL as (it refuses to run as root). "
                + "Install the Debian package (apt-get install -y postgresql), which creates that user, or run the tests as a normal user.");
        }

        await RemoveAbandonedServersAsync(bin);

        // initdb creates the directory itself, so under /tmp (world-writable) it is owned by whoever runs the server.
        var directory = Path.Combine(Path.GetTempPath(), $"{DirectoryPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        try
        {
            await RunServerToolAsync(bin, "initdb", ["-D", directory, "-U", ServiceUser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"], cancellationToken);

            Exception? lastError = null;
            for (var attempt = 0; attempt < 3; attempt++)
            {
                var port = FreePort();
                var options = string.Join(' ',
                    $"-p {port}",
                    $"-k {directory}",
                    "-c listen_addresses=127.0.0.1",
                    // synchronous_commit stays on: with fsync off it costs a write to the kernel, not a flush, and an
                    // acknowledged commit then survives StopAsync (an immediate stop loses asynchronous commits).
                    Durable ? "" : "-c fsync=off -c full_page_writes=off",
                    "-c max_connections=300");
                try
                {
                    await RunServerToolAsync(bin, "pg_ctl", ["start", "-w", "-t", "30", "-D", directory, "-l", Path.Combine(directory, "server.log"), "-o", options], cancellationToken);
                    Port = port;
                    DataDirectory = directory;
                    _binDirectory = bin;
                    _serverOptions = options;
                    return;
                }
                catch (InvalidOperationException ex)
                {
                    // Most likely another process took the port between our probe and the server's bind.
                    lastError = ex;
                }
            }

            throw new InvalidOperationException($"PostgreSQL did not start in {directory}: {lastError?.Message}\n{ReadLog(directory)}", lastError);
        }
        catch
        {
            await StopAndDeleteAsync(bin, directory);
            throw;
        }
    }

    private async Task RestartCoreAsync(CancellationToken cancellationToken)
    {
        var directory = DataDirectory!;
        try
        {
            await RunServerToolAsync(_binDirectory!, "pg_ctl", ["start", "-w", "-t", "30", "-D", directory, "-l", Path.Combine(directory, "server.log"), "-o", _serverOptions!], cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"PostgreSQL did not start again in {directory} on port {Port}: {ex.Message}\n{ReadLog(directory)}", ex);
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("POSTGRES_BIN_DIR");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return HasServerTools(configured)
                ? configured
                : throw new InvalidOperationException($"POSTGRES_BIN_DIR={configured} has no initdb and pg_ctl.");
        }

        const string root = "/usr/lib/postgresql";
        var candidates = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1, Bin: Path.Combine(d, "bin")))
                .Where(c => HasServerTools(c.Bin))
                .OrderByDescending(c => c.Version)
                .ToList()
            : [];
        return candidates.Count > 0
            ? candidates[0].Bin
            : throw new InvalidOperationException(
                "PostgreSQL is not installed: no initdb and pg_ctl under /usr/lib/postgresql/*/bin. "
                + "These tests run a throwaway PostgreSQL server; install it with `apt-get install -y postgresql` "
                + "(the service does not need to run), or set POSTGRES_BIN_DIR to a directory holding initdb and pg_ctl.");
    }

    private static bool HasServerTools(string bin) =>
        File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl"));

    /// <summary>Stops and deletes servers of ours whose test process is gone (killed before it could dispose).</summary>
    private static async Task RemoveAbandonedServersAsync(string bin)
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var rest = Path.GetFileName(directory)[DirectoryPrefix.Length..];
            var dash = rest.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !int.TryParse(rest[..dash], out var ownerPid) || IsAlive(ownerPid))
            {
                continue;
            }

            await StopAndDeleteAsync(bin, directory);
        }
    }

    private static async Task StopAndDeleteAsync(string bin, string directory)
    {
        if (File.Exists(Path.Combine(directory, "postmaster.pid")))
        {
            try
            {
                await RunServerToolAsync(bin, "pg_ctl", ["stop", "-w", "-t", "30", "-m", "immediate", "-D", directory], CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
                // Not running any more; deleting the directory is all that is left.
            }
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static async Task RunServerToolAsync(string bin, string tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        var executable = Path.Combine(bin, tool);
        if (Environment.IsPrivilegedProcess)
        {
            start.FileName = File.Exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "runuser";
            foreach (var argument in new[] { "-u", ServiceUser, "--", executable })
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start.FileName = executable;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Could not run {start.FileName}: {ex.Message}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            string text;
            lock (output)
            {
                text = output.ToString();
            }

            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{text}");
        }
    }

    private static string ReadLog(string directory)
    {
        try
        {
            var log = Path.Combine(directory, "server.log");
            return File.Exists(log) ? File.ReadAllText(log) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool UserExists(string user) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(l => l.StartsWith(user + ":", StringComparison.Ordinal));

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string Sanitize(string prefix)
    {
        var builder = new StringBuilder();
        foreach (var c in prefix.ToLowerInvariant())
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        }

        return builder.Length == 0 ? "test" : builder.ToString()[..Math.Min(builder.Length, 30)];
    }
}
