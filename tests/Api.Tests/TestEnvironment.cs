using System.Net;
using System.Net.Sockets;

namespace Agents.Api.Tests;

internal static class TestEnvironment
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>A fresh directory under the system temp folder, for the run's database.</summary>
    public static string NewTempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "agents-api-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A user name no other test uses, so tests never see each other's conversations.</summary>
    public static string NewUser(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 13)];

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
