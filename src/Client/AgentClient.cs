using Agents.Events;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Agents.Client;

/// <summary>
/// A client of the agent service's hub (<c>/hubs/agent</c>) for one user. The connection reconnects by itself;
/// calls that are safe to repeat (reads, sends with a client message id, answers, cancels) are retried when the
/// service is <c>unavailable</c> or the connection drops; <see cref="WatchAsync"/> survives both, resuming from the
/// last seq it yielded. Refusals are typed: <see cref="AgentNotFoundException"/>, <see cref="AgentConflictException"/>,
/// <see cref="AgentRateLimitedException"/>, <see cref="AgentUnavailableException"/>, or <see cref="AgentException"/>
/// with its <see cref="AgentException.Code"/>.
/// </summary>
public sealed partial class AgentClient : IAsyncDisposable
{
    private static readonly Backoff Backoff = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    private readonly HubConnection _hub;
    private readonly AgentClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _starting = new(1, 1);

    /// <summary>A client with its own connection, for <paramref name="options"/>.</summary>
    /// <param name="options">Where the service is, the token, and how long a watch waits.</param>
    /// <param name="handlers">Gives the HTTP handler of the connection (as <c>IHttpMessageHandlerFactory</c> does), or null for the default.</param>
    /// <param name="logger">Tells of reconnects and retries.</param>
    /// <param name="time">The clock of the retries; the system's by default.</param>
    public AgentClient(AgentClientOptions options, Func<HttpMessageHandler>? handlers = null, ILogger<AgentClient>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var baseAddress = options.BaseAddress ?? throw new ArgumentException("AgentClientOptions.BaseAddress is required.", nameof(options));
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<AgentClient>.Instance;
        _hub = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, "hubs/agent"), http =>
            {
                if (options.AccessTokenProvider is { } token)
                {
                    http.AccessTokenProvider = () => token(CancellationToken.None);
                }

                if (handlers is not null)
                {
                    http.HttpMessageHandlerFactory = _ => handlers();
                }
            })
            .AddJsonProtocol(json => AgentJson.Configure(json.PayloadSerializerOptions))
            .WithAutomaticReconnect(new ForeverRetry())
            .Build();
        _hub.On<ConversationInfo>(nameof(ConversationCreated), info => ConversationCreated?.Invoke(info));
    }

    /// <summary>Raised when the user's other tabs or clients create (or fork) a conversation.</summary>
    public event Action<ConversationInfo>? ConversationCreated;

    /// <summary>Whether the connection is up now.</summary>
    public bool IsConnected => _hub.State == HubConnectionState.Connected;

    /// <summary>Connects, unless connected; every call connects first by itself.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_hub.State == HubConnectionState.Connected)
        {
            return;
        }

        await _starting.WaitAsync(cancellationToken);
        try
        {
            if (_hub.State == HubConnectionState.Disconnected)
            {
                await _hub.StartAsync(cancellationToken);
            }
        }
        finally
        {
            _starting.Release();
        }

        // Reconnecting by itself: wait for it.
        while (_hub.State != HubConnectionState.Connected)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken);
        }
    }

    /// <summary>
    /// Creates a conversation; with a text its first run starts. Never repeated by the client: the gateway names a
    /// new conversation on every call, so a repeat after a lost reply would make a second one (the gateway itself
    /// retries its call to the cluster with the same id).
    /// </summary>
    public Task<ConversationInfo> CreateConversationAsync(CreateConversation command, CancellationToken cancellationToken = default) =>
        CallAsync<ConversationInfo>("CreateConversation", [command], retry: false, cancellationToken);

    /// <summary>
    /// Sends a user message; returns its seq. <paramref name="mode"/> is one of <see cref="MessageModes"/> (steer when
    /// null). A client message id is made when none is given, so a lost reply is retried without storing it twice.
    /// </summary>
    public async Task<long> SendMessageAsync(string conversationId, string text, string? mode = null, string? clientMessageId = null, CancellationToken cancellationToken = default)
    {
        var command = new SendMessage(text, clientMessageId ?? Guid.NewGuid().ToString("N"), mode);
        return (await CallAsync<SeqReply>("SendMessage", [conversationId, command], retry: true, cancellationToken)).Seq;
    }

    /// <summary>
    /// Answers an input request; returns the seq of <c>input.received</c>, or null when a repeat after a lost reply
    /// found the request answered: most likely by the first attempt, but the contract makes any second answer
    /// <c>conflict</c>, so only the log (its <c>input.received</c>) says whose answer it was.
    /// </summary>
    public async Task<long?> RespondAsync(string conversationId, Respond answer, CancellationToken cancellationToken = default)
    {
        try
        {
            return (await CallAsync<SeqReply>("Respond", [conversationId, answer], retry: true, cancellationToken, repeatDone: ErrorCodes.Conflict)).Seq;
        }
        catch (RepeatDoneException)
        {
            return null;
        }
    }

    /// <summary>Cancels the conversation's run, if any.</summary>
    public Task CancelAsync(string conversationId, CancellationToken cancellationToken = default) =>
        CallAsync<object?>("Cancel", [conversationId], retry: true, cancellationToken);

    /// <summary>A new conversation whose log begins with copies of this one's events 1..<paramref name="afterSeq"/>; made once, never retried.</summary>
    public Task<ConversationInfo> ForkAsync(string conversationId, long afterSeq, CancellationToken cancellationToken = default) =>
        CallAsync<ConversationInfo>("ForkConversation", [conversationId, afterSeq], retry: false, cancellationToken);

    /// <summary>Deletes the conversation and everything of it; a repeat after a lost reply that finds it gone is done.</summary>
    public async Task DeleteAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        try
        {
            await CallAsync<object?>("DeleteConversation", [conversationId], retry: true, cancellationToken, repeatDone: ErrorCodes.NotFound);
        }
        catch (RepeatDoneException)
        {
        }
    }

    /// <summary>The user's top-level conversations, most recently updated first.</summary>
    public Task<IReadOnlyList<ConversationInfo>> ListAsync(CancellationToken cancellationToken = default) =>
        CallAsync<IReadOnlyList<ConversationInfo>>("ListConversations", [], retry: true, cancellationToken);

    /// <summary>One conversation's info.</summary>
    public Task<ConversationInfo> GetAsync(string conversationId, CancellationToken cancellationToken = default) =>
        CallAsync<ConversationInfo>("GetConversation", [conversationId], retry: true, cancellationToken);

    /// <summary>The user's token spend today and the daily budget.</summary>
    public Task<UserUsage> GetUsageAsync(CancellationToken cancellationToken = default) =>
        CallAsync<UserUsage>("GetUsage", [], retry: true, cancellationToken);

    /// <summary>Stops the connection; watches end.</summary>
    public async ValueTask DisposeAsync()
    {
        await _hub.DisposeAsync();
        _starting.Dispose();
    }

    private async Task<T> CallAsync<T>(string method, object?[] args, bool retry, CancellationToken cancellationToken, string? repeatDone = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    connecting.CancelAfter(_options.ConnectTimeout);
                    try
                    {
                        await StartAsync(connecting.Token);
                    }
                    catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new AgentUnavailableException($"{method}: no connection to the service within {_options.ConnectTimeout}", ex);
                    }
                }

                return await _hub.InvokeCoreAsync<T>(method, args, cancellationToken);
            }
            catch (HubException ex) when (AgentException.FromHub(ex) is { } refusal)
            {
                if (attempt > 1 && refusal.Code == repeatDone)
                {
                    throw new RepeatDoneException();
                }

                if (!retry || refusal is not AgentUnavailableException || attempt >= _options.CallAttempts)
                {
                    throw refusal;
                }

                LogRetry(_logger, method, attempt, refusal.Code);
            }
            catch (Exception ex) when (ex is not HubException && Transient(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (!retry || attempt >= _options.CallAttempts)
                {
                    throw ex as AgentUnavailableException ?? new AgentUnavailableException($"{method}: the connection to the service failed ({ex.GetType().Name})", ex);
                }

                LogRetry(_logger, method, attempt, ex.GetType().Name);
            }

            await Backoff.WaitAsync(attempt, _time, cancellationToken);
        }
    }

    /// <summary>A failure the same call may get past: a dropped or refused connection, or an unavailable cluster.</summary>
    private static bool Transient(Exception exception) => exception switch
    {
        HubException hub => AgentException.FromHub(hub) is AgentUnavailableException,
        AgentUnavailableException => true,
        HttpRequestException or IOException or System.Net.WebSockets.WebSocketException or TimeoutException => true,
        InvalidOperationException => true, // "The connection is not active" while it reconnects.
        TaskCanceledException or OperationCanceledException => false,
        _ => exception.InnerException is { } inner && Transient(inner),
    };

    private sealed record SeqReply(long Seq);

    private sealed class RepeatDoneException : Exception;

    private sealed class ForeverRetry : IRetryPolicy
    {
        public TimeSpan? NextRetryDelay(RetryContext retryContext) =>
            Backoff.DelayAfter((int)Math.Min(retryContext.PreviousRetryCount + 1, 10));
    }

    [LoggerMessage(EventId = 1, EventName = "CallRetried", Level = LogLevel.Information, Message = "{Method}: attempt {Attempt} failed ({Failure}); trying again")]
    private static partial void LogRetry(ILogger logger, string method, int attempt, string failure);
}
