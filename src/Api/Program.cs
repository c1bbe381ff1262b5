using Agents.Api;

// `Agents.Api migrate` applies the schema and exits; anything else runs the service (co-hosting the silo by default).
if (args is ["migrate"])
{
    return await AgentApi.MigrateAsync([]);
}

var app = AgentApi.Build(args);
await app.StartAsync();
foreach (var url in app.Urls)
{
    Console.WriteLine($"Agents is listening on {url}");
}

await app.WaitForShutdownAsync();
return 0;
