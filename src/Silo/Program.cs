using Agents.Silo;
using Agents.Silo.Health;
using Agents.Silo.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;

// `Agents.Silo migrate` applies the schema and exits; anything else runs the silo, with /healthz and /readyz
// on the URLs ASP.NET Core is given (ASPNETCORE_URLS, --urls; http://localhost:5000 when none).
if (args is ["migrate"])
{
    await AgentSiloExtensions.MigrateAsync(WebApplication.CreateBuilder([]).Configuration);
    Console.WriteLine("Schema is up to date.");
    return 0;
}

var builder = WebApplication.CreateBuilder(args);
builder.AddAgentObservability();
builder.AddAgentSilo();
builder.Services.AddHealthChecks().AddSiloReadiness();

var app = builder.Build();
app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(AgentHealthChecks.Ready) });
app.MapAgentObservability();
await app.RunAsync();
return 0;
