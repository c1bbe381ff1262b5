using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Agents.Grains.Storage;
using Agents.Silo;

// `Agents.Silo migrate` applies the schema and exits; anything else runs the silo.
var migrate = args is ["migrate"];
var builder = Host.CreateApplicationBuilder(migrate ? [] : args);
builder.AddAgentSilo();
using var host = builder.Build();

if (migrate)
{
    await host.Services.GetRequiredService<IEventStore>().MigrateAsync();
    Console.WriteLine("Schema is up to date.");
    return 0;
}

await host.RunAsync();
return 0;
