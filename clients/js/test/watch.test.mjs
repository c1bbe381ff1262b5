// AgentWatch's own rules, on a scripted stand-in for the SignalR connection: what the real service never does
// (a hole in the seqs, a repeat) and the give-up clock, which the service tests reach only by stopping the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentWatch, errorCode } from '../src/index.js';

/** Records each Watch stream opened; the test drives its observer. */
function fakeConnection({ lastSeq = 0, reachable = true } = {}) {
  const streams = [];
  return {
    streams,
    stream(method, conversationId, afterSeq) {
      const stream = { method, conversationId, afterSeq, observer: null, disposed: false };
      streams.push(stream);
      return { subscribe: observer => { stream.observer = observer; return { dispose: () => { stream.disposed = true; } }; } };
    },
    invoke: async () => {
      if (!reachable) throw new Error('Invocation canceled due to the underlying connection being closed.');
      return { lastSeq };
    },
  };
}

function watchWith(connection, { afterSeq = 0, giveUpAfterMs = 60_000 } = {}) {
  const delivered = [];
  const errors = [];
  const watch = new AgentWatch({
    conversationId: 'c_1', afterSeq, giveUpAfterMs, connection,
    whenConnected: async () => {},
    onEvent: event => delivered.push(event.seq),
    onError: (error, willRetry) => errors.push([errorCode(error), willRetry]),
  });
  return { watch, delivered, errors };
}

const event = seq => ({ seq, conversationId: 'c_1', runId: 'r_1', type: 'progress', at: '', data: { text: `${seq}` } });
const until = async (predicate, ms = 2_000) => {
  for (const deadline = Date.now() + ms; !predicate(); await new Promise(r => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error('timed out');
  }
};

test('a repeat is dropped; a hole makes it watch again from the last seq delivered', async () => {
  const connection = fakeConnection();
  const { watch, delivered } = watchWith(connection);
  await until(() => connection.streams.length === 1);
  const first = connection.streams[0];
  assert.equal(first.afterSeq, 0);
  [1, 1, 2, 4].forEach(seq => first.observer.next(event(seq)));

  await until(() => connection.streams.length === 2);
  assert.equal(first.disposed, true);
  const second = connection.streams[1];
  assert.equal(second.afterSeq, 2);
  // The stream given up on may still deliver: it is not listened to.
  first.observer.next(event(3));
  [3, 4, 5].forEach(seq => second.observer.next(event(seq)));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5]);
  assert.equal(watch.lastSeq, 5);
  watch.stop();
  assert.equal(second.disposed, true);
});

test('a lost stream is watched again from the last seq; not_found ends the watch', async () => {
  const connection = fakeConnection();
  const { watch, delivered, errors } = watchWith(connection, { afterSeq: 10 });
  await until(() => connection.streams.length === 1);
  connection.streams[0].observer.next(event(11));
  connection.streams[0].observer.error(new Error("An unexpected error occurred. HubException: unavailable: the cluster could not serve the request; retry shortly"));
  await until(() => connection.streams.length === 2);
  assert.equal(connection.streams[1].afterSeq, 11);
  connection.streams[1].observer.complete();
  await until(() => connection.streams.length === 3);
  assert.equal(connection.streams[2].afterSeq, 11);

  connection.streams[2].observer.error(new Error('HubException: not_found: no conversation c_1'));
  assert.equal(watch.stopped, true);
  assert.deepEqual(delivered, [11]);
  assert.deepEqual(errors, [['unavailable', true], ['not_found', false]]);
  await new Promise(r => setTimeout(r, 300));
  assert.equal(connection.streams.length, 3, 'no watch after a fatal refusal');
});

test('without progress it gives up after giveUpAfterMs with unavailable', async () => {
  const connection = fakeConnection({ reachable: false });
  const { watch, errors } = watchWith(connection, { giveUpAfterMs: 150 });
  const started = Date.now();
  await until(() => watch.stopped);
  assert.ok(Date.now() - started >= 140);
  assert.deepEqual(errors, [['unavailable', false]]);
});

test('an open stream with nothing new is progress: an idle watch does not give up', async () => {
  const connection = fakeConnection({ lastSeq: 3 });
  const { watch, errors } = watchWith(connection, { afterSeq: 3, giveUpAfterMs: 100 });
  await new Promise(r => setTimeout(r, 300));
  assert.equal(watch.stopped, false);
  assert.deepEqual(errors, []);
  watch.stop();
});

test('with events still to come, silence is not progress', async () => {
  // The service says seq 5 exists but the stream never brings it.
  const connection = fakeConnection({ lastSeq: 5 });
  const { watch, errors } = watchWith(connection, { afterSeq: 3, giveUpAfterMs: 100 });
  await until(() => watch.stopped);
  assert.deepEqual(errors, [['unavailable', false]]);
});
