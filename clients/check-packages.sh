#!/usr/bin/env bash
# Packs both client packages (Agents.Client with the Agents.Grains.Abstractions package it depends on; @agents/client)
# into artifacts/packages and installs each into a throwaway project outside the repository, as a user would, so a
# package that builds here but not for its users fails the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(pwd)/artifacts/packages"
rm -rf "$out" && mkdir -p "$out"
consumer="$(mktemp -d)"
trap 'rm -rf "$consumer"' EXIT

dotnet pack src/Client/Client.csproj -c "${CONFIGURATION:-Release}" -o "$out" -nologo -v quiet
dotnet pack src/Grains.Abstractions/Grains.Abstractions.csproj -c "${CONFIGURATION:-Release}" -o "$out" -nologo -v quiet
(cd clients/js && npm pack --silent --pack-destination "$out" >/dev/null)

# Every pack is version 1.0.0: the copies an earlier run restored into the global cache would be used instead.
global_packages="$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')"
rm -rf "$global_packages/agents.client" "$global_packages/agents.grains.abstractions"

# .NET: a console app that references the package from the local folder (and the registry for its dependencies).
mkdir -p "$consumer/dotnet"
cat > "$consumer/dotnet/NuGet.Config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local" value="$out" />
  </packageSources>
</configuration>
XML
cat > "$consumer/dotnet/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Agents.Client" Version="*" />
  </ItemGroup>
</Project>
XML
cat > "$consumer/dotnet/Program.cs" <<'CS'
using Agents.Client;
using Agents;
using Microsoft.Extensions.DependencyInjection;

var services = new ServiceCollection();
services.AddAgentClient(o => o.BaseAddress = new Uri("http://127.0.0.1:1/"));
await using var provider = services.BuildServiceProvider();
var client = provider.GetRequiredService<AgentClient>();
Console.WriteLine($"{client.GetType().FullName} {nameof(CreateConversation)} {client.IsConnected}");
CS
(cd "$consumer/dotnet" && dotnet run -nologo -v quiet) | grep -q "Agents.Client.AgentClient CreateConversation False"

# JavaScript: a project that installs the tarball and its peer, imports it and folds an event.
mkdir -p "$consumer/js"
(cd "$consumer/js" && npm init -y >/dev/null && npm pkg set type=module >/dev/null \
  && npm install --no-audit --no-fund --loglevel=error "$out"/agents-client-*.tgz @microsoft/signalr@10.0.11 >/dev/null)
cat > "$consumer/js/check.mjs" <<'JS'
import * as signalR from '@microsoft/signalr';
import { AgentClient, fold, errorCode } from '@agents/client';
const client = new AgentClient({ hubUrl: 'http://127.0.0.1:1/hubs/agent', signalR, accessTokenFactory: () => 'x' });
const state = fold([{ seq: 1, conversationId: 'c', runId: 'r', type: 'message.user', at: '2026-01-01T00:00:00Z', data: { messageId: 'm', text: 'hi' } }]);
if (client.state !== 'disconnected' || state.items[0].text !== 'hi' || errorCode(new Error('x conflict: y')) !== 'conflict') process.exit(1);
console.log('ok');
JS
(cd "$consumer/js" && node check.mjs) | grep -q '^ok$'
echo "packages: $(cd "$out" && ls | tr '\n' ' ')"
