using System.Net;
using System.Net.Sockets;

namespace Agents.Testing;

/// <summary>What every test project needs of its surroundings: the repository, temp folders, free ports, waiting.</summary>
internal static class TestEnvironment
{
    /// <summary>The folder holding <c>Orleans.sln</c>, found above the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>A fresh directory under the system temp folder, for one test's database or processes.</summary>
    public static string NewTempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "agents-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A key to sign tokens with (<c>Auth:SigningKey</c>), for processes that must accept each other's tokens.</summary>
    public static string NewSigningKey() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>A user name no other test uses, so tests never see each other's conversations.</summary>
    public static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 13)];

    /// <summary>Polls <paramref name="probe"/> until it holds or the timeout passes.</summary>
    public static Task EventuallyAsync(Func<Task<bool>> probe, TimeSpan timeout, string what) =>
        EventuallyAsync(async () => await probe() ? what : null, timeout, what);

    /// <summary>Polls <paramref name="probe"/> until it yields a value or the timeout passes.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
        where T : class
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            try
            {
                await Task.Delay(20, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}.");
            }
        }
    }

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Orleans.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Orleans.sln not found above the test binaries.");
    }
}
