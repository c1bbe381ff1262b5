// A scripted OpenAI-compatible chat completions server (streamed as the real API streams), for driving the real
// service from node: each request is answered by the script whose marker is in its first user message, and a
// reply can hold at a gate until the test lets it go, so "mid-message" is a place, not a timing.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

export class FakeOpenAI {
  #server;
  #scripts = new Map();
  #gates = new Map();
  requests = [];

  async start() {
    this.#server = http.createServer((req, res) => this.#handle(req, res).catch(() => res.destroy()));
    await new Promise((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${this.#server.address().port}/v1`;
  }

  async stop() {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  /** A script: replies in order, one per model call. Returns the marker to put in the first user message. */
  script(...replies) {
    const id = randomUUID().replaceAll('-', '').slice(0, 12);
    this.#scripts.set(id, { replies, calls: 0 });
    return `[fake:${id}]`;
  }

  /** A gate: `reached` resolves when a reply gets there, `open()` lets it go on. */
  gate(name) {
    if (!this.#gates.has(name)) {
      let reach, open;
      const reached = new Promise((r) => (reach = r));
      const opened = new Promise((r) => (open = r));
      this.#gates.set(name, { reached, reach, opened, open });
    }
    return this.#gates.get(name);
  }

  async #handle(req, res) {
    let body = '';
    for await (const chunk of req) body += chunk;
    const request = JSON.parse(body);
    const firstUser = request.messages.find((m) => m.role === 'user');
    const text = typeof firstUser?.content === 'string' ? firstUser.content : (firstUser?.content ?? []).map((p) => p.text ?? '').join('');
    const marker = /\[fake:([A-Za-z0-9]+)\]/.exec(text);
    const script = marker && this.#scripts.get(marker[1]);
    const reply = script?.replies[script.calls++];
    this.requests.push({ script: marker?.[1], request });
    if (!reply) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'fake: no scripted reply left', type: 'invalid_request_error' } }));
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const id = `chatcmpl-${randomUUID()}`;
    const send = (delta, finish = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: request.model, choices: [{ index: 0, delta, finish_reason: finish }], usage: null })}\n\n`);
    send({ role: 'assistant', content: '' });
    let tools = 0;
    let pieces = 0;
    for (const step of reply) {
      if (step.text !== undefined) {
        send({ content: step.text });
        pieces++;
      } else if (step.tool) {
        // The service offers tools under plugin prefixes (Demo-make_reservation): call the one whose name ends so.
        const offered = (request.tools ?? []).map((t) => t.function.name);
        const name = offered.find((n) => n === step.tool.name || n.endsWith(`-${step.tool.name}`)) ?? step.tool.name;
        send({ tool_calls: [{ index: tools++, id: step.tool.id, type: 'function', function: { name, arguments: JSON.stringify(step.tool.arguments) } }] });
        pieces++;
      } else if (step.gate) {
        const gate = this.gate(step.gate);
        gate.reach();
        await Promise.race([gate.opened, new Promise((r) => res.once('close', r))]);
        if (res.destroyed || res.writableEnded) return;
      }
    }
    send({}, tools > 0 ? 'tool_calls' : 'stop');
    if (request.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model: request.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: pieces, total_tokens: 10 + pieces } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }
}
