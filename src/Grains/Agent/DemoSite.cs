namespace Agents.Grains.Agent;

/// <summary>
/// Where the Demo model's research sources are served: the single-node app's own address, set once it listens (a
/// silo process alone has none, and its Demo research then works from what it knows).
/// </summary>
public sealed class DemoSite
{
    private Uri? _baseAddress;

    public Uri? BaseAddress
    {
        get => Volatile.Read(ref _baseAddress);
        set => Volatile.Write(ref _baseAddress, value);
    }
}
