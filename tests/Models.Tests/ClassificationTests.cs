using System.Net;
using System.Net.Sockets;
using Agents.Grains.Agent;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.OpenAI;

namespace Agents.Models.Tests;

/// <summary>How the failures the OpenAI connector really throws are classified.</summary>
public sealed class ClassificationTests(ModelsFixture silo)
{
    [Fact]
    public async Task UnreachableEndpoint_IsModelUnavailable_AndTransient()
    {
        int closedPort;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{closedPort}/v1/") };
        var chat = new OpenAIChatCompletionService("fake", silo.ApiKey, httpClient: http);
        var history = new ChatHistory();
        history.AddUserMessage("hello");

        var thrown = await Record.ExceptionAsync(async () =>
        {
            await foreach (var _ in chat.GetStreamingChatMessageContentsAsync(history, cancellationToken: TestContext.Current.CancellationToken))
            {
            }
        });

        var failure = ModelCallException.Classify(Assert.IsAssignableFrom<Exception>(thrown));
        Assert.Equal(ModelCallException.Unavailable, failure.Code);
        Assert.True(failure.Transient);
        Assert.DoesNotContain(silo.ApiKey, failure.ToString(), StringComparison.Ordinal);
    }
}
