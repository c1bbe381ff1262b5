// AG-UI, driven by @ag-ui/client's HttpAgent against the real service and a scripted OpenAI-compatible model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { FakeOpenAI } from './support/fake-openai.mjs';
import { Service, until } from './support/service.mjs';
import { ResumableHttpAgent } from './support/agui.mjs';

const model = new FakeOpenAI();
let service;
let alice;
let bob;

before(async () => {
  service = await new Service(await model.start()).start();
  alice = await service.token('alice');
  bob = await service.token('bob');
});

after(async () => {
  await service?.stop();
  service?.dispose();
  await model.stop();
});

const newAgent = (threadId, token = alice) =>
  new ResumableHttpAgent({ url: `${service.baseUrl}/api/agui`, headers: { authorization: `Bearer ${token}` }, threadId });
const say = (agent, text) => agent.addMessage({ id: randomUUID(), role: 'user', content: text });
const lastText = (agent) => agent.messages.findLast((m) => m.role === 'assistant' && typeof m.content === 'string')?.content;
const info = async (id) =>
  (await fetch(`${service.baseUrl}/api/conversations/${id}`, { headers: { authorization: `Bearer ${alice}` } })).json();
const outcomes = (agent) => {
  const seen = [];
  agent.subscribe({ onRunFinishedEvent: ({ event }) => { seen.push(event.outcome ?? { type: 'success' }); } });
  return seen;
};

test('a RunAgentInput streams the run as AG-UI events and finishes with the usage', async () => {
  const marker = model.script([{ text: 'Hello ' }, { text: 'AG-UI.' }]);
  const agent = newAgent(`ag-${randomUUID()}`);
  const finished = [];
  agent.subscribe({ onRunFinishedEvent: ({ event }) => { finished.push(event); } });
  say(agent, `Hi ${marker}`);

  await agent.runAgent({ runId: randomUUID() });

  assert.equal(lastText(agent), 'Hello AG-UI.');
  assert.equal(finished[0].outcome.type, 'success');
  assert.equal(finished[0].usage[0].inputTokens, 10);
  assert.deepEqual((await agent.getCapabilities()).transport, { streaming: true, resumable: true });
});

test('an approval ends the run with an interrupt and comes back as resume[]', async () => {
  const marker = model.script([{ tool: { id: 'call_ag_book', name: 'make_reservation', arguments: { restaurant: 'Luigi', time: '20:00', people: 3 } } }], [{ text: 'Reserved.' }]);
  const threadId = `ag-${randomUUID()}`;
  const agent = newAgent(threadId);
  const seen = outcomes(agent);
  say(agent, `Book ${marker}`);

  await agent.runAgent({ runId: randomUUID() });
  assert.equal(seen[0].type, 'interrupt');
  const [interrupt] = agent.pendingInterrupts;
  assert.equal(interrupt.reason, 'confirmation');
  assert.equal(interrupt.toolCallId, 'call_ag_book');
  assert.equal((await info(threadId)).status, 'waiting');

  await agent.runAgent({ runId: randomUUID(), resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { approved: true } }] });

  assert.equal(seen[1].type, 'success');
  assert.equal(lastText(agent), 'Reserved.');
  assert.ok(agent.messages.some((m) => m.role === 'tool' && m.toolCallId === 'call_ag_book'));
  assert.equal((await info(threadId)).lastRunOutcome, 'completed');
});

test('a question is an input_required interrupt answered with { text }', async () => {
  const marker = model.script([{ tool: { id: 'call_ag_ask', name: 'ask_user', arguments: { question: 'Which day?' } } }], [{ text: 'Friday it is.' }]);
  const agent = newAgent(`ag-${randomUUID()}`);
  say(agent, `Plan ${marker}`);

  await agent.runAgent({ runId: randomUUID() });
  const [interrupt] = agent.pendingInterrupts;
  assert.equal(interrupt.reason, 'input_required');
  assert.equal(interrupt.message, 'Which day?');

  await agent.runAgent({ runId: randomUUID(), resume: [{ interruptId: interrupt.id, status: 'resolved', payload: { text: 'Friday' } }] });
  assert.equal(lastText(agent), 'Friday it is.');
});

test('cancel ends the run with the cancelled outcome', async () => {
  const marker = model.script([{ text: 'Thinking ' }, { gate: 'ag-cancel' }, { text: 'never.' }]);
  const threadId = `ag-${randomUUID()}`;
  const agent = newAgent(threadId);
  const seen = outcomes(agent);
  say(agent, `Slow ${marker}`);

  const running = agent.runAgent({ runId: randomUUID() });
  await model.gate('ag-cancel').reached;
  await until(() => lastText(agent) === 'Thinking ', 'the text before the gate');
  const cancel = await fetch(`${service.baseUrl}/api/agui/${threadId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } });
  assert.equal(cancel.status, 202);
  await running;
  model.gate('ag-cancel').open();

  assert.deepEqual(seen, [{ type: 'cancelled' }]);
  assert.equal((await info(threadId)).lastRunOutcome, 'cancelled');
});

test('connect reconnects mid-message: a snapshot as of N, the message re-opened, then live with nothing twice', async () => {
  const marker = model.script([{ text: 'Far ' }, { text: 'far ' }, { gate: 'ag-connect' }, { text: 'away.' }]);
  const threadId = `ag-${randomUUID()}`;
  const first = newAgent(threadId);
  say(first, `Where ${marker}`);

  const running = first.runAgent({ runId: randomUUID() });
  await until(() => lastText(first) === 'Far far ', 'the text before the gate');
  first.abortRun();
  await running.catch(() => {});

  const second = newAgent(threadId);
  const connecting = second.connectAgent();
  await until(() => lastText(second) === 'Far far ', 'the snapshot');
  model.gate('ag-connect').open();
  await connecting;

  assert.equal(lastText(second), 'Far far away.');
  assert.equal(second.messages.filter((m) => m.role === 'assistant').length, 1);
  assert.equal(second.messages.filter((m) => m.role === 'user').length, 1);
  assert.equal((await info(threadId)).lastRunOutcome, 'completed');

  // Idle: connect restores the thread and finishes at once.
  const third = newAgent(threadId);
  await third.connectAgent();
  assert.equal(lastText(third), 'Far far away.');
});

test("another user's thread is 404, never theirs", async () => {
  const marker = model.script([{ text: 'Private.' }]);
  const threadId = `ag-${randomUUID()}`;
  const owner = newAgent(threadId);
  say(owner, `Mine ${marker}`);
  await owner.runAgent({ runId: randomUUID() });

  const stranger = newAgent(threadId, bob);
  say(stranger, 'let me in');
  await assert.rejects(stranger.runAgent({ runId: randomUUID() }), (e) => e.status === 404);
  await assert.rejects(newAgent(threadId, bob).connectAgent(), (e) => e.status === 404);
  const cancel = await fetch(`${service.baseUrl}/api/agui/${threadId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${bob}` } });
  assert.equal(cancel.status, 404);
});
