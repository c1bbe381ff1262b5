using System.Collections.Concurrent;
using System.Diagnostics;

namespace Agents.Testing;

/// <summary>
/// Every server a test or the bench starts (a silo, the app, a baseline) ends with the process that started it, also
/// when a test fails before its dispose or the runner is stopped: a developer's machine and the benchmarks after a
/// test run stay quiet. A normal exit kills what is still tracked; a runner killed with SIGKILL runs no handler, so a
/// small watchdog shell beside each child kills it once the runner is gone.
/// </summary>
internal static class ChildProcesses
{
    private static readonly ConcurrentDictionary<int, Process> Alive = new();
    private static int _hooked;

    /// <summary>Makes <paramref name="process"/>, just started, end with this process.</summary>
    public static void Track(Process process)
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        }

        Alive[process.Id] = process;
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => Alive.TryRemove(process.Id, out _);
        StartWatchdog(process.Id);
    }

    private static void KillAll()
    {
        foreach (var process in Alive.Values)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone already.
            }
        }
    }

    private static void StartWatchdog(int child)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var runner = Environment.ProcessId;
        // Ends by itself when the child does; its output is piped to nobody, so it holds none of the runner's.
        var script = $"while kill -0 {runner} 2>/dev/null && kill -0 {child} 2>/dev/null; do sleep 1; done; "
            + $"kill -0 {runner} 2>/dev/null || kill -9 {child} 2>/dev/null; exit 0";
        var info = new ProcessStartInfo("/bin/sh", ["-c", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var watchdog = Process.Start(info);
    }
}
