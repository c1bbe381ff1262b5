// The real single-node service (gateway and co-hosted silo) as built by `dotnet build -c Release`, in its own
// process on its own SQLite file and ports, so a test can kill it and start it again on the same state.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const configuration = process.env.CONFIGURATION ?? 'Release';
const apiDll = path.join(root, 'src/Api/bin', configuration, 'net10.0/Agents.Api.dll');

export async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

export class Service {
  #child;
  #exited;

  /** @param {Record<string, string>} [settings] more configuration, in its environment form (RateLimits__SendBurst). */
  constructor(modelEndpoint, settings = {}) {
    this.directory = mkdtempSync(path.join(os.tmpdir(), 'agents-js-'));
    this.modelEndpoint = modelEndpoint;
    this.settings = settings;
    // One key for every start, so a token outlives a restart as it does in production.
    this.signingKey = randomBytes(32).toString('base64');
  }

  async start() {
    this.port ??= await freePort();
    this.ports ??= [await freePort(), await freePort()];
    this.baseUrl = `http://127.0.0.1:${this.port}`;
    const log = openSync(path.join(this.directory, `api-${Date.now()}.log`), 'a');
    this.#child = spawn('dotnet', [apiDll], {
      cwd: this.directory,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        ASPNETCORE_URLS: this.baseUrl,
        ConnectionStrings__Agents: `Data Source=${path.join(this.directory, 'agents.db')}`,
        Auth__SigningKey: this.signingKey,
        Llm__Provider: 'OpenAI',
        Llm__Endpoint: this.modelEndpoint,
        Llm__Model: 'fake',
        Llm__ApiKey: 'test',
        Llm__InitialBackoff: '00:00:00.100',
        Orleans__SiloPort: String(this.ports[0]),
        Orleans__GatewayPort: String(this.ports[1]),
        Logging__LogLevel__Default: 'Warning',
        ...this.settings,
      },
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', resolve));
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (this.#child.exitCode !== null) throw new Error(`the service exited with ${this.#child.exitCode}; see ${this.directory}`);
      try {
        if ((await fetch(`${this.baseUrl}/readyz`)).ok) return this;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the service was not ready in 90 s; see ${this.directory}`);
  }

  /** SIGKILL: no chance to flush or finish anything. */
  async kill() {
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  async stop() {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) await this.kill();
  }

  dispose() {
    rmSync(this.directory, { recursive: true, force: true });
  }

  async token(user) {
    const response = await fetch(`${this.baseUrl}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user }),
    });
    return (await response.json()).token;
  }
}

/** Waits for `predicate` to hold, polling; fails with `what` after `ms`. */
export async function until(predicate, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
