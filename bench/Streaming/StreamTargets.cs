using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Client;
using Agents.Events;
using Agents.Testing;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Agents.Bench.Streaming;

/// <summary>What a client got from one streamed answer: the text it assembled and, if a check failed, why.</summary>
internal sealed record StreamOutcome(string Text, string? Error, string? ConversationId = null);

/// <summary>One client connection to a target; it streams answers and checks what arrives.</summary>
internal interface IStreamClient : IAsyncDisposable
{
    Task<StreamOutcome> StreamAsync(string prompt, ChunkStamps stamps, CancellationToken cancellationToken);
}

/// <summary>
/// A server set-up under measurement: the service (single node on SQLite, or silos and a gateway on PostgreSQL)
/// or a baseline. Every target serves the same model (the bench's fake OpenAI server) to the same clients (.NET
/// SignalR over loopback).
/// </summary>
internal abstract class StreamTarget(string name, string description, IReadOnlyList<ServerProcess> servers) : IAsyncDisposable
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    public IReadOnlyList<ServerProcess> Servers { get; } = servers;

    public TimeSpan ServerCpu => Servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.CpuTime);

    public abstract Task<IStreamClient> ConnectAsync(CancellationToken cancellationToken);

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var server in Servers.Reverse())
        {
            await server.DisposeAsync();
        }
    }
}

/// <summary>A hub method that streams the model's text pieces (<c>Stream(prompt)</c>): the baselines.</summary>
internal sealed class BaselineTarget(string name, string description, ServerProcess server, string hubPath)
    : StreamTarget(name, description, [server])
{
    public override async Task<IStreamClient> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = new HubConnectionBuilder().WithUrl(new Uri(server.BaseAddress, hubPath)).Build();
        await connection.StartAsync(cancellationToken);
        return new Client(connection);
    }

    private sealed class Client(HubConnection connection) : IStreamClient
    {
        public async Task<StreamOutcome> StreamAsync(string prompt, ChunkStamps stamps, CancellationToken cancellationToken)
        {
            var text = new StringBuilder();
            await foreach (var piece in connection.StreamAsync<string>("Stream", prompt, cancellationToken))
            {
                stamps.Add(piece, Stopwatch.GetTimestamp());
                text.Append(piece);
            }

            return new StreamOutcome(text.ToString(), null);
        }

        public ValueTask DisposeAsync() => connection.DisposeAsync();
    }
}

/// <summary>The service through its public hub: <c>CreateConversation</c>, <c>Watch</c>, <c>SendMessage</c>.</summary>
internal sealed class ServiceTarget(string name, string description, IReadOnlyList<ServerProcess> servers, ServerProcess gateway)
    : StreamTarget(name, description, servers)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _tokens = new();

    public ServerProcess Gateway { get; } = gateway;

    public override async Task<IStreamClient> ConnectAsync(CancellationToken cancellationToken) =>
        new Client(await ConnectClientAsync("bench", cancellationToken));

    /// <summary>
    /// The service's .NET client (src/Client) as <paramref name="user"/>, with a development token from the gateway,
    /// connected: it retries what is safe to repeat and watches again from its last seq, as any client of ours does.
    /// </summary>
    public async Task<AgentClient> ConnectClientAsync(string user, CancellationToken cancellationToken, ILogger<AgentClient>? logger = null)
    {
        if (!_tokens.TryGetValue(user, out var token))
        {
            using var http = new HttpClient { BaseAddress = Gateway.BaseAddress };
            using var response = await http.PostAsJsonAsync("/api/dev/token", new { user }, cancellationToken);
            response.EnsureSuccessStatusCode();
            token = _tokens[user] = (await response.Content.ReadFromJsonAsync<TokenResponse>(cancellationToken))!.Token;
        }

        var client = new AgentClient(new AgentClientOptions
        {
            BaseAddress = Gateway.BaseAddress,
            AccessTokenProvider = _ => Task.FromResult<string?>(token),
            // A saturated cluster may take long to come back; the bench reports it rather than giving up early.
            WatchGiveUpAfter = TimeSpan.FromMinutes(3),
            CallAttempts = 8,
        }, logger: logger);
        await client.StartAsync(cancellationToken);
        return client;
    }

    private sealed record TokenResponse(string Token);

    private sealed class Client(AgentClient client) : IStreamClient
    {
        public async Task<StreamOutcome> StreamAsync(string prompt, ChunkStamps stamps, CancellationToken cancellationToken)
        {
            var info = await client.CreateConversationAsync(new CreateConversation(Title: "bench"), cancellationToken);
            var watch = new ConversationWatcher(info.Id, stamps);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await using var events = client.WatchAsync(info.Id, 0, stop.Token).GetAsyncEnumerator(stop.Token);
            // The watch is opened before the send, as a client that opens a conversation and then talks in it does:
            // its first MoveNextAsync writes the Watch invocation before returning, so the send's comes after it and
            // the first events come live rather than from the store's replay.
            var next = events.MoveNextAsync();
            await client.SendMessageAsync(info.Id, prompt, cancellationToken: cancellationToken);
            while (await next)
            {
                if (watch.Add(events.Current, Stopwatch.GetTimestamp()))
                {
                    return new StreamOutcome(watch.LastAnswer ?? "", watch.Error, info.Id);
                }

                next = events.MoveNextAsync();
            }

            return new StreamOutcome(watch.LastAnswer ?? "", watch.Error ?? "the watch ended before the run did", info.Id);
        }

        public ValueTask DisposeAsync() => client.DisposeAsync();
    }
}

/// <summary>
/// Checks one client's view of a conversation against the contract as events arrive: seqs 1, 2, 3, … without a
/// gap or a repeat, deltas that add up to their message, a terminal event for every run.
/// </summary>
internal sealed class ConversationWatcher(string conversationId, ChunkStamps? stamps)
{
    private readonly Dictionary<string, StringBuilder> _messages = [];
    private long _expected = 1;

    public string ConversationId { get; } = conversationId;

    public string? Error { get; private set; }

    public string? LastAnswer { get; private set; }

    public long LastSeq => _expected - 1;

    public int Started { get; private set; }

    public int Ended { get; private set; }

    public string? LastTerminal { get; private set; }

    /// <summary>Takes the next event; true when it ends the run the watcher waits for.</summary>
    public bool Add(EventEnvelope e, long receivedAt)
    {
        if (e.Seq != _expected)
        {
            Error ??= $"{ConversationId}: seq {e.Seq} arrived where {_expected} was due";
            _expected = Math.Max(_expected, e.Seq + 1);
            return false;
        }

        _expected++;
        switch (e.Data)
        {
            case MessageDeltaStreamed delta:
                stamps?.Add(delta.Text, receivedAt);
                (_messages.TryGetValue(delta.MessageId, out var text) ? text : _messages[delta.MessageId] = new StringBuilder()).Append(delta.Text);
                break;
            case AssistantMessageCompleted answer:
                if (!_messages.Remove(answer.MessageId, out var streamed) || streamed.ToString() != answer.Text)
                {
                    Error ??= $"{ConversationId}: message {answer.MessageId} is not the sum of its deltas";
                }

                LastAnswer = answer.Text;
                break;
            case MessageInterrupted interrupted:
                _messages.Remove(interrupted.MessageId);
                break;
        }

        if (e.Type == EventTypes.RunStarted)
        {
            Started++;
        }

        if (EventTypes.IsTerminal(e.Type))
        {
            Ended++;
            LastTerminal = e.Type;
            if (Ended != Started)
            {
                Error ??= $"{ConversationId}: {Ended} ends for {Started} runs";
            }

            return true;
        }

        return false;
    }
}

/// <summary>Counts the watches a client opened again (its <c>WatchResumed</c> log events): R2's rewatch figure.</summary>
internal sealed class RewatchCounter : ILogger<AgentClient>
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Name == "WatchResumed")
        {
            Interlocked.Increment(ref _count);
        }
    }
}
