using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Agents.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Orleans.Streams;

namespace Agents.Bench.Streaming;

/// <summary>
/// The two baselines the service is measured against, run by the bench as child processes
/// (<c>Agents.Bench serve-bare|serve-nolog</c>): the same model through the same Semantic Kernel connector to the
/// same SignalR clients, (a) straight through a hub method, no Orleans and no storage: the ceiling; (b) through a
/// grain and an Orleans stream as the service does it, but without the event log: what storage costs.
/// </summary>
internal static class Baselines
{
    public const string BareRole = "serve-bare";
    public const string NoLogRole = "serve-nolog";
    public const string BareHubPath = "/hubs/bare";
    public const string NoLogHubPath = "/hubs/nolog";

    public static async Task<int> RunAsync(string role, string[] args)
    {
        var app = role == BareRole ? BuildBare(args) : BuildNoLog(args);
        app.MapGet("/readyz", () => Results.Ok());
        await app.RunAsync();
        return 0;
    }

    private static WebApplication BuildBare(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        var llm = builder.Configuration.GetSection("Llm");
        builder.Services.AddOpenAIChatCompletion(llm["Model"] ?? "fake", new Uri(llm["Endpoint"] ?? throw new InvalidOperationException("Llm:Endpoint is required.")), llm["ApiKey"]);
        builder.Services.AddSignalR();
        var app = builder.Build();
        app.MapHub<BareHub>(BareHubPath);
        return app;
    }

    private static WebApplication BuildNoLog(string[] args)
    {
        // The service's own host (single node: silo, memory streams, the model connector), plus one more hub.
        var app = AgentApi.Build(args);
        app.MapHub<NoLogHub>(NoLogHubPath);
        return app;
    }
}

/// <summary>Baseline (a): the model's text pieces straight to the caller.</summary>
internal sealed class BareHub(IChatCompletionService chat) : Hub
{
    public async IAsyncEnumerable<string> Stream(string prompt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var history = new ChatHistory();
        history.AddUserMessage(prompt);
        await foreach (var chunk in chat.GetStreamingChatMessageContentsAsync(history, cancellationToken: cancellationToken))
        {
            if (!string.IsNullOrEmpty(chunk.Content))
            {
                yield return chunk.Content;
            }
        }
    }
}

/// <summary>Baseline (b): subscribe to the answer's stream, start the grain, pass on what the stream brings.</summary>
internal sealed class NoLogHub(IClusterClient client) : Hub
{
    public async IAsyncEnumerable<string> Stream(string prompt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        var received = Channel.CreateUnbounded<NoLogChunk[]>(new UnboundedChannelOptions { SingleReader = true });
        var stream = client.GetStreamProvider(AgentNames.StreamProvider).GetStream<NoLogChunk[]>(StreamId.Create(NoLogGrain.StreamNamespace, id));
        var subscription = await stream.SubscribeAsync((batch, _) =>
        {
            received.Writer.TryWrite(batch);
            return Task.CompletedTask;
        });
        try
        {
            await client.GetGrain<INoLogGrain>(id).StartAsync(prompt);
            var expected = 0;
            await foreach (var batch in received.Reader.ReadAllAsync(cancellationToken))
            {
                foreach (var chunk in batch)
                {
                    if (chunk.Seq != expected++)
                    {
                        throw new HubException($"chunk {chunk.Seq} arrived where {expected - 1} was due");
                    }

                    if (chunk.End)
                    {
                        yield break;
                    }

                    yield return chunk.Text;
                }
            }
        }
        finally
        {
            await subscription.UnsubscribeAsync();
        }
    }
}

[Alias("bench.INoLogGrain")]
public interface INoLogGrain : IGrainWithStringKey
{
    [Alias("Start")]
    Task StartAsync(string prompt);
}

[GenerateSerializer, Alias("bench.NoLogChunk")]
public sealed record NoLogChunk([property: Id(0)] int Seq, [property: Id(1)] string Text, [property: Id(2)] bool End);

/// <summary>
/// Streams one answer as the conversation grain does (the loop started by a call that returns at once, pieces
/// published in order by a publisher that sends whatever is pending in one message), minus the event log.
/// </summary>
internal sealed class NoLogGrain(Kernel kernel) : Grain, INoLogGrain
{
    public const string StreamNamespace = "bench-nolog";

    private readonly Queue<NoLogChunk> _pending = new();
    private Task _publisher = Task.CompletedTask;
    private Task _run = Task.CompletedTask;

    public Task StartAsync(string prompt)
    {
        _run = RunAsync(prompt);
        return Task.CompletedTask;
    }

    private async Task RunAsync(string prompt)
    {
        var stream = this.GetStreamProvider(AgentNames.StreamProvider).GetStream<NoLogChunk[]>(StreamId.Create(StreamNamespace, this.GetPrimaryKeyString()));
        var history = new ChatHistory();
        history.AddUserMessage(prompt);
        var seq = 0;
        await foreach (var chunk in kernel.GetRequiredService<IChatCompletionService>().GetStreamingChatMessageContentsAsync(history))
        {
            if (!string.IsNullOrEmpty(chunk.Content))
            {
                Publish(stream, new NoLogChunk(seq++, chunk.Content, false));
            }
        }

        Publish(stream, new NoLogChunk(seq, "", true));
        await _publisher;
        DeactivateOnIdle();
    }

    private void Publish(IAsyncStream<NoLogChunk[]> stream, NoLogChunk chunk)
    {
        _pending.Enqueue(chunk);
        if (_publisher.IsCompleted)
        {
            _publisher = PublishAsync(stream);
        }
    }

    private async Task PublishAsync(IAsyncStream<NoLogChunk[]> stream)
    {
        while (_pending.Count > 0)
        {
            var batch = _pending.ToArray();
            _pending.Clear();
            await stream.OnNextAsync(batch);
        }
    }
}
