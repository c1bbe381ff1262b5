using System.ComponentModel.DataAnnotations;

namespace Agents.Grains.Agent;

/// <summary>Which model the agent talks to; bound from <c>Llm</c>.</summary>
public sealed class LlmOptions
{
    public const string SectionName = "Llm";

    /// <summary><see cref="ModelProvider.Demo"/> (built in, offline; the default) or <see cref="ModelProvider.OpenAI"/>.</summary>
    public ModelProvider Provider { get; set; } = ModelProvider.Demo;

    /// <summary>For <c>OpenAI</c>: the API base, including <c>/v1</c>.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>For <c>OpenAI</c>: the model id.</summary>
    public string? Model { get; set; }

    /// <summary>For <c>OpenAI</c>: the key; from configuration or the environment only, never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Attempts per model step: a transient failure (429, 5xx, a dropped connection, a stall) is retried as a whole step.</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The first retry's delay; it doubles per attempt, with jitter, up to <see cref="MaxBackoff"/>. A provider's Retry-After wins.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between attempts, Retry-After included.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest one model call may stream.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest a model stream may go without sending anything.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>For <c>Demo</c>: how fast it streams; 0 streams as fast as it can.</summary>
    [Range(0, 1_000_000)]
    public double DemoTokensPerSecond { get; set; } = 30;

    /// <summary>For <c>Demo</c>: how long each demo tool takes, so a person sees the step happen.</summary>
    public TimeSpan DemoToolLatency { get; set; } = TimeSpan.FromMilliseconds(400);

    /// <summary>The model's name in telemetry: <c>demo</c> for the built-in one.</summary>
    public string ModelName => Provider == ModelProvider.Demo ? "demo" : Model ?? "";
}

/// <summary>Which chat service the agent talks to.</summary>
public enum ModelProvider
{
    /// <summary>The built-in scripted model: offline, no key.</summary>
    Demo,

    /// <summary>Any OpenAI-compatible endpoint (OpenAI, Azure OpenAI's v1 endpoint, Ollama, vLLM) through SK's connector.</summary>
    OpenAI,
}
