namespace Agents.Grains.Storage;

/// <summary>Work that blocks (SQLite's calls, and the waits between them) on a thread of its own, off the thread pool.</summary>
internal static class OwnThread
{
    /// <summary>Runs <paramref name="work"/> on a new background thread; the task ends with it.</summary>
    public static Task Run(string name, Action work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                work();
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }
}
