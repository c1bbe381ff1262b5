using System.Collections;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Agents.Api.Identity;

/// <summary>
/// Browsers put the token in the query (<c>?access_token=</c>) of hub WebSockets and SSE streams, and ASP.NET
/// Core's request log (<c>Microsoft.AspNetCore.Hosting.Diagnostics</c>, Information) writes each request's URL,
/// query included, before any middleware could strip it. This wraps the logger factory so that category's entries
/// carry <c>access_token=[redacted]</c> instead; every other category, and every provider's own filters, are untouched.
/// </summary>
public static partial class AccessTokenRedaction
{
    private const string RequestLogCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";
    private const string Redacted = "access_token=[redacted]";

    public static IServiceCollection AddAccessTokenRedaction(this IServiceCollection services)
    {
        var factory = services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory));
        if (factory?.ImplementationType != typeof(LoggerFactory))
        {
            // Someone else owns the factory (a test host, a logging library): leave it to them.
            return services;
        }

        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new RedactingLoggerFactory(new LoggerFactory(
            sp.GetServices<ILoggerProvider>(),
            sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
            sp.GetService<IOptions<LoggerFactoryOptions>>(),
            sp.GetService<IExternalScopeProvider>()))));
        return services;
    }

    /// <summary><paramref name="text"/> with the value of every <c>access_token</c> query parameter replaced.</summary>
    public static string Redact(string text) => AccessTokenParameter().Replace(text, Redacted);

    [GeneratedRegex("access_token=[^&#\\s]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AccessTokenParameter();

    private static bool MayHoldToken(string? text) => text?.Contains("access_token=", StringComparison.OrdinalIgnoreCase) == true;

    private sealed class RedactingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName)
        {
            var logger = inner.CreateLogger(categoryName);
            return categoryName == RequestLogCategory ? new RedactingLogger(logger) : logger;
        }

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        public void Dispose() => inner.Dispose();
    }

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is not IReadOnlyList<KeyValuePair<string, object?>> values || !values.Any(v => MayHoldToken(v.Value as string ?? v.Value?.ToString())))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            var redacted = new RedactedState(Redact(formatter(state, exception)), [.. values.Select(v => MayHoldToken(v.Value?.ToString())
                ? new KeyValuePair<string, object?>(v.Key, Redact(v.Value!.ToString()!))
                : v)]);
            inner.Log(logLevel, eventId, redacted, exception, static (s, _) => s.Message);
        }
    }

    /// <summary>A log entry's values and message after redaction (providers read either).</summary>
    private sealed class RedactedState(string message, IReadOnlyList<KeyValuePair<string, object?>> values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message => message;

        public int Count => values.Count;

        public KeyValuePair<string, object?> this[int index] => values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => values.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => message;
    }
}
