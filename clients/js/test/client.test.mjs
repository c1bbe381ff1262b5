// AgentClient, in node, against the real service (built by `dotnet build -c Release`) and a scripted
// OpenAI-compatible model: delivery, resume across a killed service, every error code it maps, and the store.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as signalR from '@microsoft/signalr';
import { FakeOpenAI } from '../../../tests/js/support/fake-openai.mjs';
import { Service, until } from '../../../tests/js/support/service.mjs';
import { AgentClient, AgentError, createConversationStore, errorCode } from '../src/index.js';

const model = new FakeOpenAI();
let service;
const clients = [];

before(async () => {
  // A small burst of new conversations per user, so that rate_limited is one create away; every test has its own user.
  service = await new Service(await model.start(), { RateLimits__ConversationBurst: '4', RateLimits__ConversationsPerMinute: '1' }).start();
});

after(async () => {
  await Promise.all(clients.map(client => client.stop()));
  await service?.stop();
  service?.dispose();
  await model.stop();
});

/** A started client of a user of its own. */
async function connect() {
  const token = await service.token(`u-${randomUUID()}`);
  const client = new AgentClient({ accessTokenFactory: () => token, hubUrl: `${service.baseUrl}/hubs/agent`, signalR, logLevel: signalR.LogLevel.None });
  clients.push(client);
  await client.start();
  return client;
}

/** Watches a conversation, keeping every event delivered and every error told. */
function record(client, id, afterSeq = 0, options = {}) {
  const events = [];
  const errors = [];
  const watch = client.watch(id, afterSeq, event => events.push(event), { ...options, onError: (error, willRetry) => errors.push({ error, willRetry }) });
  const ended = () => events.some(e => e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled');
  return { events, errors, watch, ended };
}

const seqs = events => events.map(e => e.seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Asserts that `promise` rejects with an AgentError of `code`, whose message starts at the code; returns it. */
async function rejectsWith(promise, code) {
  let caught;
  await assert.rejects(promise, error => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof AgentError, `an AgentError, not ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(errorCode(caught), code);
  assert.ok(caught.message.startsWith(`${code}: `), caught.message);
  return caught;
}

test('create and watch to the end: every event once, in order, and the info agrees', async () => {
  const client = await connect();
  const created = [];
  client.on('conversationCreated', info => created.push(info.id));
  const marker = model.script([{ text: 'Hello ' }, { text: 'from ' }, { text: 'the model.' }]);
  const info = await client.create({ title: 'Greeting', text: `Hi ${marker}` });
  assert.equal(info.title, 'Greeting');
  assert.equal(info.status, 'running');

  const { events, ended, watch } = record(client, info.id);
  await until(ended, 'the run to end');
  const last = await client.get(info.id);
  assert.deepEqual(seqs(events), range(1, last.lastSeq));
  assert.equal(watch.lastSeq, last.lastSeq);
  assert.deepEqual([events[0].type, events[1].type, events.at(-1).type], ['message.user', 'run.started', 'run.completed']);
  assert.equal(events[0].data.text, `Hi ${marker}`);
  const deltas = events.filter(e => e.type === 'message.delta').map(e => e.data.text).join('');
  const [answer] = events.filter(e => e.type === 'message.assistant');
  assert.equal(answer.data.text, 'Hello from the model.');
  assert.equal(deltas, answer.data.text);
  assert.deepEqual([last.status, last.lastRunOutcome, last.parentId, last.forkedFrom], ['idle', 'completed', null, null]);
  // The hub tells the user's connections, this one included.
  await until(() => created.includes(info.id), 'conversationCreated');
  watch.stop();
  assert.equal(watch.stopped, true);
});

test('a watch from afterSeq N gets only the events after N', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'One, ' }, { text: 'two.' }]);
  const info = await client.create({ text: `Count ${marker}` });
  const whole = record(client, info.id);
  await until(whole.ended, 'the run to end');

  const tail = record(client, info.id, 3);
  await until(() => tail.watch.lastSeq === whole.watch.lastSeq, 'the tail');
  assert.deepEqual(seqs(tail.events), range(4, whole.watch.lastSeq));
  assert.deepEqual(tail.events, whole.events.slice(3));
  tail.watch.stop();
  whole.watch.stop();
});

test('list, get, listChildren and getUsage', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Counted.' }]);
  const first = await client.create({ title: 'first' });
  const second = await client.create({ title: 'second', text: `Use tokens ${marker}` });
  const { ended, watch } = record(client, second.id);
  await until(ended, 'the run to end');
  watch.stop();

  const list = await client.list();
  assert.deepEqual(list.map(c => c.id), [second.id, first.id]);
  assert.equal((await client.get(first.id)).title, 'first');
  assert.deepEqual(await client.listChildren(second.id), []);
  const usage = await client.getUsage();
  // The fake model reports 10 input tokens and one output token per piece.
  assert.deepEqual(usage.today, { inputTokens: 10, outputTokens: 1 });
  assert.equal(usage.limit, null);
  assert.ok(Date.parse(usage.resetsAt) > Date.now());
});

test('an approval with a remark: the store waits, then folds the answer and the end', async () => {
  const client = await connect();
  const marker = model.script(
    [{ tool: { id: 'call_js_book', name: 'make_reservation', arguments: { restaurant: 'Lumi', time: '20:00', people: 2 } } }],
    [{ text: 'Booked by the window.' }],
  );
  const info = await client.create({ text: `Book ${marker}` });
  const store = createConversationStore(client, info.id);
  const states = [];
  const unsubscribe = store.subscribe(state => states.push(state));

  const waiting = await until(() => store.getState().status === 'waiting' && store.getState(), 'the approval request');
  const [request] = waiting.openRequests;
  assert.deepEqual([request.kind, request.callId, request.displayName, request.arguments], ['approval', 'call_js_book', 'make_reservation', { restaurant: 'Lumi', time: '20:00', people: 2 }]);
  const { seq } = await client.respond(info.id, { requestId: request.requestId, approved: true, text: 'a table by the window' });
  assert.equal(typeof seq, 'number');

  await until(() => store.getState().status === 'idle', 'the run to end');
  const state = store.getState();
  assert.equal(state.lastRunOutcome, 'completed');
  assert.deepEqual(state.openRequests, []);
  assert.deepEqual(state.items.map(i => i.kind), ['user', 'tool', 'assistant', 'run']);
  const [user, call, answer, end] = state.items;
  assert.equal(user.startsRun, true);
  assert.deepEqual([call.status, call.request.answered, call.request.approved, call.request.text, call.request.closed], ['done', true, true, 'a table by the window', true]);
  assert.deepEqual([answer.text, answer.streaming], ['Booked by the window.', false]);
  assert.equal(end.event, 'completed');
  assert.equal(states.at(-1), state, 'listeners get each new state');
  assert.ok(states.length >= state.lastSeq - 1);

  // A second answer to the same request is a conflict.
  await rejectsWith(client.respond(info.id, { requestId: request.requestId, approved: false }), 'conflict');
  unsubscribe();
  store.stop();
});

test('a store of a run with sub-agents: the children on the call, and listChildren', async () => {
  const client = await connect();
  const child = model.script([{ text: 'Found three.' }]);
  const parent = model.script(
    [{ tool: { id: 'call_js_subs', name: 'start_subagents', arguments: { tasks: [{ title: 'Search', prompt: `Search ${child}` }] } } }],
    [{ text: 'The helper found three.' }],
  );
  const info = await client.create({ text: `Research ${parent}` });
  const store = createConversationStore(client, info.id);
  await until(() => store.getState().lastRunOutcome, 'the run to end', 60_000);
  const state = store.getState();
  assert.equal(state.lastRunOutcome, 'completed');
  const call = state.items.find(i => i.kind === 'tool');
  assert.equal(call.displayName, 'start_subagents');
  assert.equal(call.status, 'done');
  assert.equal(call.subagents.length, 1);
  assert.deepEqual([call.subagents[0].title, call.subagents[0].outcome, call.subagents[0].text], ['Search', 'completed', 'Found three.']);
  const children = await client.listChildren(info.id);
  assert.deepEqual(children.map(c => [c.id, c.parentId]), [[call.subagents[0].childId, info.id]]);
  store.stop();
});

test('a store resumed from a mid-run state ends in the same state as one folded from the start', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Part one, ' }, { gate: 'js-resume' }, { text: 'part two.' }]);
  const info = await client.create({ text: `Resume ${marker}` });
  const whole = createConversationStore(client, info.id);
  const mid = await until(() => whole.getState().items.some(i => i.kind === 'assistant' && i.streaming) && whole.getState(), 'the answer streaming');
  assert.equal(mid.status, 'running');

  const resumed = createConversationStore(client, info.id, { state: mid });
  const folded = [];
  resumed.subscribe(state => folded.push(state.lastSeq));
  assert.equal(resumed.getState(), mid);
  model.gate('js-resume').open();
  await until(() => whole.getState().lastRunOutcome && resumed.getState().lastSeq === whole.getState().lastSeq, 'both stores at the end');
  assert.equal(folded[0], mid.lastSeq + 1, 'the resumed store watched after the state it was given');
  assert.deepEqual(resumed.getState(), whole.getState());
  assert.equal(resumed.getState().items.find(i => i.kind === 'assistant').text, 'Part one, part two.');
  whole.stop();
  resumed.stop();
});

test('cancel interrupts the streaming message and ends the run cancelled', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Thinking ' }, { gate: 'js-cancel' }, { text: 'never.' }]);
  const info = await client.create({ text: `Slow ${marker}` });
  const { events, ended, watch } = record(client, info.id);
  await until(() => events.some(e => e.type === 'message.delta'), 'the first delta');
  await client.cancel(info.id);
  await until(ended, 'the run to end');
  model.gate('js-cancel').open();

  const interrupted = events.find(e => e.type === 'message.interrupted');
  assert.equal(interrupted.data.reason, 'cancelled');
  assert.equal(events.at(-1).type, 'run.cancelled');
  assert.equal((await client.get(info.id)).lastRunOutcome, 'cancelled');
  // Cancelling an idle conversation is cancelling nothing, not an error.
  await client.cancel(info.id);
  watch.stop();
});

test('fork copies the log up to afterSeq; inside a run it is invalid_argument', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'First answer.' }], [{ text: 'Held ' }, { gate: 'js-fork' }, { text: 'on.' }]);
  const info = await client.create({ text: `Fork me ${marker}` });
  const original = record(client, info.id);
  await until(original.ended, 'the first run to end');
  const end = original.watch.lastSeq;

  const fork = await client.fork(info.id, end);
  assert.notEqual(fork.id, info.id);
  assert.deepEqual(fork.forkedFrom, { conversationId: info.id, afterSeq: end });
  const copy = record(client, fork.id);
  await until(() => copy.watch.lastSeq === end, 'the copied events');
  assert.deepEqual(copy.events.map(e => [e.seq, e.type, e.data]), original.events.map(e => [e.seq, e.type, e.data]));
  assert.ok(copy.events.every(e => e.conversationId === fork.id));

  // A second run, held mid-answer: its seqs are inside a run.
  await client.send(info.id, 'and again');
  await until(() => original.events.some(e => e.seq > end + 2 && e.type === 'message.delta'), 'the second run streaming');
  await rejectsWith(client.fork(info.id, end + 2), 'invalid_argument');
  model.gate('js-fork').open();
  await until(() => original.events.filter(e => e.type === 'run.completed').length === 2, 'the second run to end');
  original.watch.stop();
  copy.watch.stop();
});

test('send mode reject is conflict during a run; a repeated clientMessageId is told the first seq', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Busy ' }, { gate: 'js-reject' }, { text: 'done.' }], [{ text: 'Queued answer.' }]);
  const info = await client.create({ text: `Busy ${marker}` });
  const { events, watch } = record(client, info.id);
  await until(() => events.some(e => e.type === 'message.delta'), 'the run streaming');
  await rejectsWith(client.send(info.id, 'not now', { mode: 'reject' }), 'conflict');

  const clientMessageId = randomUUID();
  const first = await client.send(info.id, 'later', { mode: 'queue', clientMessageId });
  const again = await client.send(info.id, 'later', { mode: 'queue', clientMessageId });
  assert.equal(again.seq, first.seq);
  await rejectsWith(client.send(info.id, 'other text', { clientMessageId }), 'conflict');
  model.gate('js-reject').open();
  await until(() => events.filter(e => e.type === 'run.completed').length === 2, 'both runs to end');
  // The queued message, stored once, started the second run.
  assert.deepEqual(events.filter(e => e.type === 'message.user').map(e => [e.seq, e.data.queued ?? false]).slice(1), [[first.seq, true]]);
  const second = events.findLast(e => e.type === 'run.started');
  assert.notEqual(second.runId, events[1].runId);
  assert.equal(events.findLast(e => e.type === 'message.assistant').data.text, 'Queued answer.');
  watch.stop();
});

test('errors: not_found, invalid_argument, too_large, rate_limited with retryAfterMs', async () => {
  const client = await connect();
  await rejectsWith(client.get('c_does_not_exist'), 'not_found');
  await rejectsWith(client.send('c_does_not_exist', 'hello'), 'not_found');
  await rejectsWith(client.get('not a valid id!'), 'invalid_argument');
  const info = await client.create({ title: 'errors' });
  await rejectsWith(client.send(info.id, ''), 'invalid_argument');
  await rejectsWith(client.send(info.id, 'x'.repeat(40_000)), 'too_large');
  await rejectsWith(client.respond(info.id, { requestId: 'q_none', approved: true }), 'not_found');

  // A watch of an unknown conversation ends at once: watching again cannot help.
  const gone = record(client, 'c_does_not_exist');
  await until(() => gone.watch.stopped, 'the watch to end');
  assert.deepEqual(gone.errors.map(e => [e.error.code, e.willRetry]), [['not_found', false]]);

  // This user's burst of new conversations is 4 (one made above); the service says when to try again.
  for (let i = 0; i < 3; i++) {
    await client.create({ title: `burst ${i}` });
  }
  const limited = await rejectsWith(client.create({ title: 'one too many' }), 'rate_limited');
  assert.ok(limited.retryAfterMs >= 1000 && limited.retryAfterMs <= 60_000, `retryAfterMs ${limited.retryAfterMs}`);
});

test('delete: the conversation is not_found everywhere and its watch ends', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Soon gone.' }]);
  const info = await client.create({ text: `Delete me ${marker}` });
  const { ended, errors, watch } = record(client, info.id);
  await until(ended, 'the run to end');
  await client.delete(info.id);
  await rejectsWith(client.get(info.id), 'not_found');
  await until(() => watch.stopped, 'the watch to end');
  assert.deepEqual(errors.map(e => [e.error.code, e.willRetry]), [['not_found', false]]);
  assert.equal((await client.list()).some(c => c.id === info.id), false);
});

test('stop ends the watches and refuses calls with unavailable; start connects again', async () => {
  const client = await connect();
  const info = await client.create({ title: 'stop and start' });
  const { watch, errors } = record(client, info.id);
  await client.stop();
  assert.equal(client.state, 'disconnected');
  assert.equal(watch.stopped, true);
  assert.deepEqual(errors, []);
  await rejectsWith(client.get(info.id), 'unavailable');

  await client.start();
  assert.equal(client.state, 'connected');
  assert.equal((await client.get(info.id)).title, 'stop and start');
});

test('the service killed mid-run and started again: the watch resumes with no gap and no repeat', async () => {
  const client = await connect();
  const states = [];
  client.on('state', state => states.push(state));
  // The first model call is cut by the kill; the resumed run calls the model again.
  const marker = model.script([{ text: 'Before ' }, { gate: 'js-kill' }, { text: 'never.' }], [{ text: 'After the restart.' }]);
  const info = await client.create({ text: `Survive ${marker}` });
  const { events, ended, errors, watch } = record(client, info.id);
  await model.gate('js-kill').reached;
  await until(() => events.some(e => e.type === 'message.delta'), 'the first delta');

  await service.kill();
  await until(() => client.state !== 'connected', 'the client to notice');
  await service.start();
  await until(ended, 'the resumed run to end', 90_000);

  const last = await client.get(info.id);
  assert.deepEqual(seqs(events), range(1, last.lastSeq));
  assert.ok(states.includes('reconnecting') || states.includes('disconnected'), states.join());
  assert.equal(events.at(-1).type, 'run.completed');
  assert.equal(events.findLast(e => e.type === 'message.assistant').data.text, 'After the restart.');
  assert.equal(events.find(e => e.type === 'message.interrupted')?.data.reason, 'restart');
  assert.ok(errors.every(e => e.willRetry && e.error.code === 'unavailable'), JSON.stringify(errors.map(e => e.error.message)));
  assert.equal(watch.stopped, false);
  watch.stop();
});

test('giveUpAfterMs: with the service gone the watch ends with unavailable', async () => {
  const client = await connect();
  const marker = model.script([{ text: 'Here.' }]);
  const info = await client.create({ text: `Give up ${marker}` });
  const { ended, errors, watch } = record(client, info.id, 0, { giveUpAfterMs: 3_000 });
  await until(ended, 'the run to end');

  await service.kill();
  const stoppedAt = Date.now();
  await until(() => watch.stopped, 'the watch to give up', 15_000);
  const elapsed = Date.now() - stoppedAt;
  assert.ok(elapsed >= 2_500, `gave up after ${elapsed} ms`);
  const final = errors.at(-1);
  assert.deepEqual([final.error.code, final.willRetry], ['unavailable', false]);
  assert.ok(final.error instanceof AgentError);
  assert.match(final.error.message, /^unavailable: /);
  // The client itself goes on trying to reconnect; its calls wait for it.
  assert.notEqual(client.state, 'connected');
});
