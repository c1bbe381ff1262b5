namespace Agents.Grains.Agent.Tools.Web;

/// <summary>
/// A fetch that could not be done, in words for the model: its message becomes the call's <c>tool_error</c>, so it
/// says what happened and never more of the network than the model already knew.
/// </summary>
public class FetchUrlException(string message) : Exception(message);

/// <summary>A URL or address the guard refuses; never retried.</summary>
public sealed class FetchUrlRefusedException(string message) : FetchUrlException(message);
