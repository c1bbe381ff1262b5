using Agents.FakeOpenAI;

// Run alone: `dotnet run --project tests/FakeOpenAI -- --urls http://127.0.0.1:5080`. Requests without a
// script marker get an echo of their last user message, streamed word by word.
// With `--mcp-stdio` it is instead a small MCP server over stdin/stdout (see FakeMcpStdioServer).
if (args.Contains(FakeMcpStdioServer.Argument))
{
    await FakeMcpStdioServer.RunAsync([.. args.Where(a => a != FakeMcpStdioServer.Argument)]);
    return;
}

var url = args.SkipWhile(a => a != "--urls").Skip(1).FirstOrDefault() ?? "http://127.0.0.1:5080";
await using var server = await FakeOpenAIServer.StartAsync(new FakeOpenAIOptions { Url = url, EchoWhenUnscripted = true, LogToConsole = true, Args = args });
Console.WriteLine($"Fake OpenAI listening; configure Llm__Endpoint={server.Endpoint}");
await server.WaitForShutdownAsync();
