// The reducer against the server's own fold of recorded histories (name.fold.json, written by the .NET tests'
// FoldProjection), and its rules on small hand-made logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { displayToolName, fold, initialState, reduce } from '../src/index.js';

const histories = new URL('../../../tests/Grains.Tests/Histories/', import.meta.url);
const load = file => JSON.parse(readFileSync(new URL(file, histories), 'utf8'));
const NAMES = ['dinner', 'ask', 'cancel-mid-tool', 'restart-mid-stream', 'log-full', 'usage-across-restart'];

/** The reducer's state seen the way FoldProjection sees the server's. */
function projectStep(state) {
  const pending = state.items.filter(i => i.kind === 'tool' && i.runId === state.activeRunId && (i.status === 'running' || i.status === 'waiting'));
  const open = state.items.find(i => i.kind === 'assistant' && i.streaming);
  return {
    seq: state.lastSeq,
    status: state.status,
    activeRunId: state.activeRunId,
    pendingCalls: state.activeRunId ? pending.map(i => i.callId) : [],
    openRequests: state.openRequests.map(r => r.requestId),
    openMessage: open ? { messageId: open.messageId, text: open.text } : null,
    queued: state.queued.map(q => q.messageId),
  };
}

function projectFinal(state) {
  return {
    lastRunOutcome: state.lastRunOutcome,
    runs: state.runs.map(r => ({ runId: r.runId, outcome: r.outcome, usage: r.usage, errorCode: r.error?.code ?? null })),
    assistantMessages: state.items.filter(i => i.kind === 'assistant' && !i.streaming && !i.interrupted).map(i => ({ messageId: i.messageId, text: i.text })),
    toolResults: state.items.filter(i => i.kind === 'tool' && (i.status === 'done' || i.status === 'failed')).map(i => ({ callId: i.callId, name: i.name, errorCode: i.error?.code ?? null })),
    userMessages: state.items.filter(i => i.kind === 'user' && !i.queued).map(i => i.messageId).sort(),
  };
}

for (const name of NAMES) {
  test(`${name}: every step and the end equal the server's fold`, () => {
    const events = load(`${name}.json`);
    const expected = load(`${name}.fold.json`);
    assert.equal(expected.steps.length, events.length);

    let state = initialState();
    events.forEach((event, i) => {
      state = reduce(state, event);
      assert.deepEqual(projectStep(state), expected.steps[i], `${name} after seq ${event.seq}`);
    });

    assert.deepEqual(projectFinal(state), { ...expected.final, userMessages: [...expected.final.userMessages].sort() });
    assert.equal(state.conversationId, events[0].conversationId);
  });
}

test('dinner: the timeline a page renders', () => {
  const events = load('dinner.json');
  const state = fold(events);
  assert.deepEqual(state.items.map(i => i.kind), ['user', 'progress', 'tool', 'progress', 'assistant', 'tool', 'assistant', 'run']);
  const [user, , search, , offer, booking, done, end] = state.items;
  assert.equal(user.startsRun, true);
  assert.equal(search.displayName, 'search_restaurants');
  assert.equal(search.result[0].name, 'Ferment & Fire');
  assert.equal(offer.text.startsWith('Ferment & Fire looks best tonight'), true);
  assert.equal(booking.status, 'done');
  assert.deepEqual(booking.request, { requestId: 'q_01M8VEEQQB6DCCSP2BG6EBRAJG', kind: 'approval', prompt: booking.request.prompt, answered: true, approved: true, text: null, closed: true });
  assert.match(booking.request.prompt, /^Allow make_reservation/);
  assert.equal(done.streaming, false);
  assert.deepEqual(end, { kind: 'run', id: 'seq:56', seq: 56, runId: user.runId, event: 'completed', reason: null, error: null, usage: { inputTokens: 236, outputTokens: 70 } });
  assert.deepEqual(state.runs[0].usage, { inputTokens: 236, outputTokens: 70 });
  assert.deepEqual([state.runs[0].startedAt, state.runs[0].endedAt], [events[1].at, events.at(-1).at]);
});

test('restart-mid-stream: the cut message is interrupted, the run resumed', () => {
  const state = fold(load('restart-mid-stream.json'));
  const cut = state.items.find(i => i.kind === 'assistant' && i.interrupted);
  assert.equal(cut.interrupted, 'restart');
  assert.equal(cut.streaming, false);
  assert.match(cut.text, /confirmation/);
  const resumed = state.items.find(i => i.kind === 'run' && i.event === 'resumed');
  assert.equal(resumed.reason, 'restart');
  assert.equal(resumed.seq, 50);
  assert.equal(state.items.at(-1).event, 'completed');
});

test('log-full: the run fails with the log_full code and the usage so far', () => {
  const state = fold(load('log-full.json'));
  const end = state.items.at(-1);
  assert.equal(end.event, 'failed');
  assert.equal(end.error.code, 'log_full');
  assert.deepEqual(end.usage, { inputTokens: 58, outputTokens: 8 });
  assert.equal(state.lastRunOutcome, 'failed');
});

test('a prefix folded, then the rest, equals the whole folded at once', () => {
  for (const name of NAMES) {
    const events = load(`${name}.json`);
    const whole = fold(events);
    for (const cut of [1, 2, Math.floor(events.length / 2), events.length - 1]) {
      assert.deepEqual(fold(events.slice(cut), fold(events.slice(0, cut))), whole, `${name} cut at ${cut}`);
    }
  }
});

test('a repeated or older event returns the very same state', () => {
  const events = load('dinner.json');
  const state = fold(events.slice(0, 10));
  assert.equal(reduce(state, events[9]), state);
  assert.equal(reduce(state, events[3]), state);
  assert.equal(fold(events.slice(0, 10), state), state);
});

test('an event changes only the items it is about: the others keep their identity', () => {
  const events = load('dinner.json');
  const before = fold(events.slice(0, 7)); // ..., seq 7 the first delta of the offer
  const after = reduce(before, events[7]); // seq 8: another delta of it
  assert.notEqual(after, before);
  assert.notEqual(after.items, before.items);
  assert.equal(after.items.length, before.items.length);
  after.items.slice(0, -1).forEach((item, i) => assert.equal(item, before.items[i]));
  assert.notEqual(after.items.at(-1), before.items.at(-1));
  assert.equal(after.items.at(-1).text, 'Ferment & ');
  assert.equal(before.items.at(-1).text, 'Ferment ', 'the state before is not changed');
  assert.equal(after.runs, before.runs);
  assert.equal(after.openRequests, before.openRequests);
  assert.equal(after.queued, before.queued);
});

// A small log builder for the rules the recorded histories do not reach.
function log(conversationId = 'c_test') {
  const events = [];
  const add = (type, data = {}, runId = null) => {
    events.push({ seq: events.length + 1, conversationId, runId, type, at: `2026-01-01T00:00:${String(events.length).padStart(2, '0')}Z`, data });
    return events.at(-1);
  };

  return { events, add };
}

test('queued messages wait in the queue and each starts the next run', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'first' }, 'r1');
  add('run.started', {}, 'r1');
  add('message.user', { messageId: 'm2', text: 'second', queued: true });
  add('message.user', { messageId: 'm3', text: 'third', queued: true });
  let state = fold(events);
  assert.deepEqual(state.queued, [{ messageId: 'm2', seq: 3, text: 'second' }, { messageId: 'm3', seq: 4, text: 'third' }]);
  assert.deepEqual(state.items.filter(i => i.queued).map(i => i.id), ['m2', 'm3']);
  assert.equal(state.status, 'running');

  add('message.assistant', { messageId: 'a1', text: 'one' }, 'r1');
  add('run.completed', {}, 'r1');
  add('run.started', {}, 'r2');
  state = fold(events.slice(4), state);
  assert.equal(state.activeRunId, 'r2');
  assert.deepEqual(state.queued.map(q => q.messageId), ['m3']);
  const m2 = state.items.find(i => i.id === 'm2');
  assert.deepEqual({ queued: m2.queued, runId: m2.runId, startsRun: m2.startsRun }, { queued: false, runId: 'r2', startsRun: false });
  assert.equal(state.items.find(i => i.id === 'm1').startsRun, true);
  assert.deepEqual(state.runs.map(r => [r.runId, r.outcome]), [['r1', 'completed'], ['r2', null]]);
});

test('a message sent mid-run belongs to the run and does not start one', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'go' }, 'r1');
  add('run.started', {}, 'r1');
  add('message.user', { messageId: 'm2', text: 'and also' }, 'r1');
  const state = fold(events);
  assert.deepEqual(state.items.map(i => [i.id, i.runId, i.startsRun, i.queued]), [['m1', 'r1', true, false], ['m2', 'r1', false, false]]);
});

test('an interrupted message keeps its text and its reason; a new message streams beside it', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'go' }, 'r1');
  add('run.started', {}, 'r1');
  add('message.delta', { messageId: 'a1', text: 'Half ' }, 'r1');
  add('message.interrupted', { messageId: 'a1', reason: 'superseded', usage: { inputTokens: 5, outputTokens: 1 } }, 'r1');
  add('message.user', { messageId: 'm2', text: 'no, this' }, 'r1');
  add('message.delta', { messageId: 'a2', text: 'Whole ' }, 'r1');
  add('message.delta', { messageId: 'a2', text: 'answer.' }, 'r1');
  let state = fold(events);
  const [a1, a2] = state.items.filter(i => i.kind === 'assistant');
  assert.deepEqual([a1.text, a1.streaming, a1.interrupted], ['Half ', false, 'superseded']);
  assert.deepEqual([a2.text, a2.streaming, a2.interrupted], ['Whole answer.', true, null]);

  add('message.assistant', { messageId: 'a2', text: 'Whole answer.', usage: { inputTokens: 7, outputTokens: 2 } }, 'r1');
  add('run.cancelled', {}, 'r1');
  state = fold(events.slice(7), state);
  assert.equal(state.items.find(i => i.id === 'a2').streaming, false);
  // No usage on the terminal event: the sum of the run's calls.
  assert.deepEqual(state.runs[0].usage, { inputTokens: 12, outputTokens: 3 });
  assert.deepEqual(state.items.at(-1).usage, { inputTokens: 12, outputTokens: 3 });
  assert.equal(state.lastRunOutcome, 'cancelled');
});

test('an approval with a remark: waiting, then answered with approved and text', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'book' }, 'r1');
  add('run.started', {}, 'r1');
  add('tool.call', { callId: 'c1', name: 'Demo-make_reservation', arguments: { restaurant: 'Lumi', time: '20:00', people: 2 } }, 'r1');
  add('input.requested', { requestId: 'q1', kind: 'approval', prompt: 'Allow make_reservation?', callId: 'c1', name: 'Demo-make_reservation', arguments: { restaurant: 'Lumi', time: '20:00', people: 2 } }, 'r1');
  let state = fold(events);
  assert.equal(state.status, 'waiting');
  assert.equal(state.items.at(-1).status, 'waiting');
  assert.deepEqual(state.openRequests, [{
    requestId: 'q1', callId: 'c1', kind: 'approval', name: 'Demo-make_reservation', displayName: 'make_reservation',
    prompt: 'Allow make_reservation?', arguments: { restaurant: 'Lumi', time: '20:00', people: 2 }, seq: 4,
  }]);

  add('input.received', { requestId: 'q1', approved: true, text: 'a table by the window, please' }, 'r1');
  state = reduce(state, events.at(-1));
  assert.equal(state.status, 'running');
  assert.deepEqual(state.openRequests, []);
  const call = state.items.at(-1);
  assert.equal(call.status, 'running');
  assert.deepEqual(call.request, { requestId: 'q1', kind: 'approval', prompt: 'Allow make_reservation?', answered: true, approved: true, text: 'a table by the window, please', closed: true });

  add('tool.result', { callId: 'c1', name: 'Demo-make_reservation', result: { confirmation: 'R-1' } }, 'r1');
  state = reduce(state, events.at(-1));
  assert.deepEqual([state.items.at(-1).status, state.items.at(-1).result], ['done', { confirmation: 'R-1' }]);
});

test('status: waiting only while the FIRST pending call waits for its answer', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'two things' }, 'r1');
  add('run.started', {}, 'r1');
  add('tool.call', { callId: 'c1', name: 'Demo-search_restaurants', arguments: {} }, 'r1');
  add('tool.call', { callId: 'c2', name: 'agent-ask_user', arguments: { question: 'When?' } }, 'r1');
  add('input.requested', { requestId: 'q2', kind: 'question', prompt: 'When?', callId: 'c2', name: 'agent-ask_user', arguments: { question: 'When?' } }, 'r1');
  let state = fold(events);
  // The second call waits, but the first still runs: the conversation is running.
  assert.equal(state.status, 'running');
  assert.deepEqual(state.items.filter(i => i.kind === 'tool').map(i => i.status), ['running', 'waiting']);
  assert.deepEqual(state.openRequests.map(r => r.requestId), ['q2']);

  add('tool.result', { callId: 'c1', name: 'Demo-search_restaurants', result: [] }, 'r1');
  state = reduce(state, events.at(-1));
  assert.equal(state.status, 'waiting');

  add('run.cancelled', {}, 'r1');
  state = reduce(state, events.at(-1));
  assert.equal(state.status, 'idle');
  assert.deepEqual(state.openRequests, []);
  // Once the run has ended its request is void: answering it would be a conflict.
  assert.deepEqual(state.items.find(i => i.id === 'c2').request.closed, true);
  assert.equal(state.items.find(i => i.id === 'c2').request.answered, false);
});

test('a question is answered with text; a denied approval fails its call', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'plan' }, 'r1');
  add('run.started', {}, 'r1');
  add('tool.call', { callId: 'c1', name: 'agent-ask_user', arguments: { question: 'Which city?' } }, 'r1');
  add('input.requested', { requestId: 'q1', kind: 'question', prompt: 'Which city?', callId: 'c1', name: 'agent-ask_user', arguments: { question: 'Which city?' } }, 'r1');
  add('input.received', { requestId: 'q1', text: 'Lisbon' }, 'r1');
  add('tool.result', { callId: 'c1', name: 'agent-ask_user', result: 'Lisbon' }, 'r1');
  add('tool.call', { callId: 'c2', name: 'Demo-make_reservation', arguments: {} }, 'r1');
  add('input.requested', { requestId: 'q2', kind: 'approval', prompt: 'Allow?', callId: 'c2', name: 'Demo-make_reservation', arguments: {} }, 'r1');
  add('input.received', { requestId: 'q2', approved: false, text: 'too expensive' }, 'r1');
  add('tool.result', { callId: 'c2', name: 'Demo-make_reservation', error: { code: 'denied', message: 'The user denied it: too expensive' } }, 'r1');
  const state = fold(events);
  const [ask, book] = state.items.filter(i => i.kind === 'tool');
  assert.deepEqual([ask.displayName, ask.status, ask.result, ask.request.text, ask.request.approved], ['ask_user', 'done', 'Lisbon', 'Lisbon', null]);
  assert.deepEqual([book.status, book.error.code, book.result, book.request.approved, book.request.text], ['failed', 'denied', null, false, 'too expensive']);
});

test('sub-agents: started and ended on their start_subagents call', () => {
  const { events, add } = log();
  add('message.user', { messageId: 'm1', text: 'research' }, 'r1');
  add('run.started', {}, 'r1');
  add('tool.call', { callId: 'c1', name: 'agent-start_subagents', arguments: { tasks: [{ title: 'A', prompt: 'a' }, { title: 'B', prompt: 'b' }] } }, 'r1');
  add('subagent.started', { callId: 'c1', childId: 'c_test-c1-0', title: 'A' }, 'r1');
  add('subagent.started', { callId: 'c1', childId: 'c_test-c1-1', title: 'B' }, 'r1');
  add('subagent.ended', { callId: 'c1', childId: 'c_test-c1-1', outcome: 'failed', error: { code: 'model_error', message: 'down' } }, 'r1');
  let state = fold(events);
  assert.equal(state.status, 'running');
  assert.deepEqual(state.items.at(-1).subagents, [
    { childId: 'c_test-c1-0', title: 'A', outcome: null, text: null, error: null },
    { childId: 'c_test-c1-1', title: 'B', outcome: 'failed', text: null, error: { code: 'model_error', message: 'down' } },
  ]);

  const untouched = state.items.at(-1).subagents[1];
  add('subagent.ended', { callId: 'c1', childId: 'c_test-c1-0', outcome: 'completed', text: 'found it' }, 'r1');
  state = reduce(state, events.at(-1));
  assert.deepEqual(state.items.at(-1).subagents[0], { childId: 'c_test-c1-0', title: 'A', outcome: 'completed', text: 'found it', error: null });
  assert.equal(state.items.at(-1).subagents[1], untouched);
});

test('events of a run mean nothing outside one, as in the server fold', () => {
  const { events, add } = log();
  add('message.delta', { messageId: 'a0', text: 'stray' }, 'r0');
  add('tool.call', { callId: 'c0', name: 'x', arguments: {} }, 'r0');
  add('run.completed', {}, 'r0');
  const state = fold(events);
  assert.deepEqual(state.items, []);
  assert.equal(state.lastSeq, 3);
  assert.equal(state.lastRunOutcome, null);
});

test('displayToolName drops the plugin prefix', () => {
  assert.equal(displayToolName('Demo-make_reservation'), 'make_reservation');
  assert.equal(displayToolName('agent-ask_user'), 'ask_user');
  assert.equal(displayToolName('a-b-c'), 'c');
  assert.equal(displayToolName('plain'), 'plain');
});

test('initialState', () => {
  assert.deepEqual(initialState('c_1'), {
    conversationId: 'c_1', lastSeq: 0, status: 'idle', activeRunId: null, lastRunOutcome: null, items: [], openRequests: [], runs: [], queued: [],
  });
  assert.equal(initialState().conversationId, null);
});
