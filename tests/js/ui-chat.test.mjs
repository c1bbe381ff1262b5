// The AI SDK UI message stream, driven by the AI SDK's own chat engine and transport against the real service and
// a scripted OpenAI-compatible model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { FakeOpenAI } from './support/fake-openai.mjs';
import { Service, until } from './support/service.mjs';
import { NodeChat, textOf } from './support/chat.mjs';

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

const chatId = () => `ui-${randomUUID()}`;
const newChat = (id, token = alice, extra = {}) => new NodeChat({ baseUrl: service.baseUrl, token, id, ...extra });
const api = (path, token = alice, init = {}) =>
  fetch(`${service.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
const info = async (id) => (await api(`/api/conversations/${id}`)).json();
const assistant = (chat) => chat.messages.findLast((m) => m.role === 'assistant');

test('a run streams as a UI message stream with the usage in the finish metadata', async () => {
  const marker = model.script([{ text: 'Hello ' }, { text: 'there.' }]);
  const id = chatId();
  const chat = newChat(id);

  await chat.sendMessage({ text: `Hi ${marker}` });

  assert.equal(chat.status, 'ready');
  const message = assistant(chat);
  assert.equal(textOf(message), 'Hello there.');
  assert.equal(message.metadata.usage.inputTokens, 10);
  assert.equal((await info(id)).lastRunOutcome, 'completed');

  // The raw stream: the protocol's header, every frame with its seq, [DONE] last.
  const raw = await api(`/api/ui/chat`, alice, {
    method: 'POST',
    body: JSON.stringify({ id, messages: [{ id: randomUUID(), role: 'user', parts: [{ type: 'text', text: `Again ${marker}` }] }], trigger: 'submit-message' }),
  });
  assert.equal(raw.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
  const frames = (await raw.text()).split('\n\n').filter((f) => f.startsWith('id: '));
  assert.ok(frames.every((f) => /^id: \d+\ndata: /.test(f)));
  assert.equal(frames.at(-1).split('\n')[1], 'data: [DONE]');
});

test('a client cut off mid-message resumes with the exact text, nothing twice, nothing missing, and the run was not cancelled', async () => {
  const marker = model.script([{ text: 'Once ' }, { text: 'upon ' }, { gate: 'resume-1' }, { text: 'a time.' }]);
  const id = chatId();
  const first = newChat(id);

  const sending = first.sendMessage({ text: `Story ${marker}` });
  await model.gate('resume-1').reached;
  await until(() => textOf(assistant(first)) === 'Once upon ', 'the first page to show the text before the gate');
  await first.stop();
  await sending;

  // A fresh page: what it restores, then useChat({ resume: true }) reconnecting.
  const restored = await (await api(`/api/ui/chat/${id}/messages`)).json();
  const second = newChat(id, alice, { messages: restored });
  const resuming = second.resumeStream();
  await until(() => second.status === 'streaming', 'the resumed stream to open');
  model.gate('resume-1').open();
  await resuming;

  const message = assistant(second);
  assert.equal(second.messages.filter((m) => m.role === 'assistant').length, 1);
  assert.equal(message.parts.filter((p) => p.type === 'text').length, 1);
  assert.equal(textOf(message), 'Once upon a time.');
  assert.equal((await info(id)).lastRunOutcome, 'completed');
});

test('an approval comes as a tool-approval-request and addToolApprovalResponse reaches the grain', async () => {
  const args = { restaurant: 'Luigi', time: '19:00', people: 2 };
  const marker = model.script([{ tool: { id: 'call_book', name: 'make_reservation', arguments: args } }], [{ text: 'Booked.' }]);
  const id = chatId();
  const chat = newChat(id);

  await chat.sendMessage({ text: `Book a table ${marker}` });
  const part = assistant(chat).parts.find((p) => p.type === 'tool-make_reservation');
  assert.equal(part.state, 'approval-requested');
  assert.deepEqual(part.input, args);
  assert.equal((await info(id)).status, 'waiting');

  await chat.addToolApprovalResponse({ id: part.approval.id, approved: true });
  await chat.sendMessage();

  const done = assistant(chat);
  assert.equal(done.parts.find((p) => p.type === 'tool-make_reservation').state, 'output-available');
  assert.match(textOf(done), /Booked\.$/);
  const events = (await (await api(`/api/conversations/${id}/events?limit=100`)).json()).events;
  const received = events.find((e) => e.type === 'input.received');
  assert.equal(received.data.requestId, part.approval.id);
  assert.equal(received.data.approved, true);
  assert.equal((await info(id)).lastRunOutcome, 'completed');
});

test('ask_user is a client-side tool answered with addToolOutput', async () => {
  const marker = model.script([{ tool: { id: 'call_ask', name: 'ask_user', arguments: { question: 'How many people?' } } }], [{ text: 'A table for four.' }]);
  const id = chatId();
  const chat = newChat(id);

  await chat.sendMessage({ text: `Plan dinner ${marker}` });
  const part = assistant(chat).parts.find((p) => p.type === 'tool-ask_user');
  assert.equal(part.state, 'input-available');
  assert.equal(part.input.question, 'How many people?');

  await chat.addToolOutput({ tool: 'ask_user', toolCallId: part.toolCallId, output: 'four' });
  await chat.sendMessage();

  assert.match(textOf(assistant(chat)), /A table for four\.$/);
  const second = model.requests.filter((r) => marker.includes(r.script)).at(-1).request;
  assert.ok(second.messages.some((m) => m.role === 'tool' && JSON.stringify(m.content).includes('four')));
});

test('stop cancels the run: the stream ends with the interrupted text and an abort', async () => {
  const marker = model.script([{ text: 'This will take ' }, { gate: 'stop-1' }, { text: 'forever.' }]);
  const id = chatId();
  const chat = newChat(id);

  const sending = chat.sendMessage({ text: `Long one ${marker}` });
  await until(() => textOf(assistant(chat)) === 'This will take ', 'the text before the gate');
  const stop = await api(`/api/ui/chat/${id}/stop`, alice, { method: 'POST' });
  assert.equal(stop.status, 202);
  await sending;
  model.gate('stop-1').open();

  const message = assistant(chat);
  assert.equal(textOf(message), 'This will take ');
  const interrupted = message.parts.find((p) => p.type === 'data-interrupted');
  assert.equal(interrupted.data.reason, 'cancelled');
  assert.equal((await info(id)).lastRunOutcome, 'cancelled');
});

test('resume while idle is 204 and the chat gets nothing', async () => {
  const marker = model.script([{ text: 'Done.' }]);
  const id = chatId();
  const chat = newChat(id);
  await chat.sendMessage({ text: `Quick ${marker}` });

  const response = await api(`/api/ui/chat/${id}/stream`);
  assert.equal(response.status, 204);
  const idle = newChat(id, alice, { messages: structuredClone(chat.messages) });
  await idle.resumeStream();
  assert.deepEqual(idle.messages, chat.messages);
  assert.equal(idle.status, 'ready');
});

test("another user's chat id is 404 on every route", async () => {
  const marker = model.script([{ text: 'Mine.' }]);
  const id = chatId();
  await newChat(id).sendMessage({ text: `Private ${marker}` });

  const post = await api('/api/ui/chat', bob, {
    method: 'POST',
    body: JSON.stringify({ id, messages: [{ id: 'b1', role: 'user', parts: [{ type: 'text', text: 'let me in' }] }], trigger: 'submit-message' }),
  });
  assert.equal(post.status, 404);
  assert.equal((await api(`/api/ui/chat/${id}/stream`, bob)).status, 404);
  assert.equal((await api(`/api/ui/chat/${id}/messages`, bob)).status, 404);
  assert.equal((await api(`/api/ui/chat/${id}/stop`, bob, { method: 'POST' })).status, 404);
  assert.equal((await api(`/api/agui/${id}/connect`, bob)).status, 404);
  const stolen = newChat(id, bob);
  await assert.rejects(stolen.resumeStream().then(() => { if (stolen.error) throw stolen.error; }));
  assert.equal((await api(`/api/ui/chat/${id}/stream`, alice)).status, 204);
});

test('a run survives a restart of the service between the disconnect and the resume', async () => {
  const marker = model.script(
    [{ text: 'Before ' }, { gate: 'restart-1' }, { text: 'never sent.' }],
    [{ text: 'After ' }, { gate: 'restart-2' }, { text: 'the restart.' }],
  );
  const id = chatId();
  const first = newChat(id);

  const sending = first.sendMessage({ text: `Survive ${marker}` });
  await until(() => textOf(assistant(first)) === 'Before ', 'the text before the restart');
  await service.kill();
  await sending;
  await service.start();

  // The service resumes the run by itself; the client comes back while it streams.
  await model.gate('restart-2').reached;
  const restored = await (await api(`/api/ui/chat/${id}/messages`)).json();
  const second = newChat(id, alice, { messages: restored });
  const resuming = second.resumeStream();
  await until(() => second.status === 'streaming', 'the resumed stream to open');
  model.gate('restart-2').open();
  model.gate('restart-1').open();
  await resuming;

  const message = assistant(second);
  const texts = message.parts.filter((p) => p.type === 'text').map((p) => p.text);
  assert.deepEqual(texts, ['Before ', 'After the restart.']);
  assert.equal(message.parts.find((p) => p.type === 'data-interrupted').data.reason, 'restart');
  assert.equal((await info(id)).lastRunOutcome, 'completed');
});
