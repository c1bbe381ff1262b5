// AgentWatch's own rules, on a scripted stand-in for the SignalR connection: what the real service never does
// (a hole in the seqs, a repeat) and the give-up clock, which the service tests reach only by stopping the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentError, AgentWatch, errorCode } from '../src/index.js';

/** Records each WatchBatches stream opened; the test drives its observer. */
function fakeConnection() {
  const streams = [];
  return {
    streams,
    stream(method, conversationId, afterSeq) {
      const stream = { method, conversationId, afterSeq, observer: null, disposed: false };
      streams.push(stream);
      return { subscribe: observer => { stream.observer = observer; return { dispose: () => { stream.disposed = true; } }; } };
    },
  };
}

/** `whenConnected` defaults to a connection that is up; the watch passes it how long it may wait. */
function watchWith(connection, { afterSeq = 0, giveUpAfterMs = 60_000, whenConnected = async () => {} } = {}) {
  const delivered = [];
  const errors = [];
  const watch = new AgentWatch({
    conversationId: 'c_1', afterSeq, giveUpAfterMs, connection, whenConnected,
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
  assert.equal(first.method, 'WatchBatches');
  assert.equal(first.afterSeq, 0);
  first.observer.next([event(1), event(1)]);
  // A hole inside a batch: nothing past it is delivered, and the watch starts again once, not once per event after it.
  first.observer.next([event(2), event(4), event(5)]);

  await until(() => connection.streams.length === 2);
  assert.equal(first.disposed, true);
  const second = connection.streams[1];
  assert.equal(second.afterSeq, 2);
  // The stream given up on may still deliver: it is not listened to.
  first.observer.next([event(3)]);
  second.observer.next([event(3), event(4)]);
  second.observer.next([event(5)]);
  assert.deepEqual(delivered, [1, 2, 3, 4, 5]);
  assert.equal(connection.streams.length, 2);
  assert.equal(watch.lastSeq, 5);
  watch.stop();
  assert.equal(second.disposed, true);
});

test('a lost stream is watched again from the last seq; not_found ends the watch', async () => {
  const connection = fakeConnection();
  const { watch, delivered, errors } = watchWith(connection, { afterSeq: 10 });
  await until(() => connection.streams.length === 1);
  connection.streams[0].observer.next([event(11)]);
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

const unavailable = () => new Error('An unexpected error occurred. HubException: unavailable: the cluster could not serve the request; retry shortly');
const sleep = ms => new Promise(r => setTimeout(r, ms));

/** As the client's: waits at most `ms` for a connection that never comes. */
const neverConnected = waits => ms => {
  waits.push(ms);
  return new Promise((_, reject) => setTimeout(() => reject(new AgentError('unavailable', `no connection within ${ms} ms`)), ms));
};

test('without a connection it gives up after giveUpAfterMs, having waited no longer', async () => {
  const connection = fakeConnection();
  const waits = [];
  const { watch, errors } = watchWith(connection, { giveUpAfterMs: 150, whenConnected: neverConnected(waits) });
  const started = Date.now();
  await until(() => watch.stopped);
  assert.ok(Date.now() - started >= 140);
  assert.deepEqual(waits, [150]);
  assert.deepEqual(errors, [['unavailable', false]]);
  assert.equal(connection.streams.length, 0);
});

test('after a failure the wait for the connection is bounded by what is left of giveUpAfterMs', async () => {
  const connection = fakeConnection();
  const waits = [];
  let up = true;
  const { watch, errors } = watchWith(connection, { giveUpAfterMs: 1_000, whenConnected: ms => (up ? Promise.resolve() : neverConnected(waits)(ms)) });
  await until(() => connection.streams.length === 1);
  up = false;
  const failedAt = Date.now();
  connection.streams[0].observer.error(unavailable());
  await until(() => watch.stopped);
  const elapsed = Date.now() - failedAt;
  assert.ok(elapsed >= 950 && elapsed < 1_500, `gave up ${elapsed} ms after the failure`);
  // The backoff before watching again came off the wait.
  assert.equal(waits.length, 1);
  assert.ok(waits[0] < 1_000 && waits[0] > 500, `waited ${waits[0]} ms`);
  assert.deepEqual(errors, [['unavailable', true], ['unavailable', false]]);
  assert.equal(connection.streams.length, 1);
});

test('silence while connected is not a failure: an open stream with nothing new never gives up', async () => {
  const connection = fakeConnection();
  const { watch, errors } = watchWith(connection, { afterSeq: 3, giveUpAfterMs: 100 });
  await sleep(400);
  assert.equal(watch.stopped, false);
  assert.deepEqual(errors, []);
  assert.equal(connection.streams.length, 1, 'no stream given up on, no call made');
  watch.stop();
});

test('a stream opened again does not stop the clock: the next failure past giveUpAfterMs gives up', async () => {
  const connection = fakeConnection();
  const { watch, errors } = watchWith(connection, { afterSeq: 3, giveUpAfterMs: 1_000 });
  await until(() => connection.streams.length === 1);
  connection.streams[0].observer.error(unavailable());
  await until(() => connection.streams.length === 2);
  await sleep(1_100);
  assert.equal(watch.stopped, false, 'quiet, the stream is not failing');
  connection.streams[1].observer.error(unavailable());
  assert.equal(watch.stopped, true);
  assert.deepEqual(errors, [['unavailable', true], ['unavailable', false]]);
});

test('a delivered event stops the clock: a later failure is watched again', async () => {
  const connection = fakeConnection();
  const { watch, delivered, errors } = watchWith(connection, { afterSeq: 3, giveUpAfterMs: 1_000 });
  await until(() => connection.streams.length === 1);
  connection.streams[0].observer.error(unavailable());
  await until(() => connection.streams.length === 2);
  connection.streams[1].observer.next([event(4)]);
  await sleep(1_100);
  connection.streams[1].observer.error(unavailable());
  assert.equal(watch.stopped, false);
  await until(() => connection.streams.length === 3);
  assert.equal(connection.streams[2].afterSeq, 4);
  assert.deepEqual(delivered, [4]);
  assert.deepEqual(errors, [['unavailable', true], ['unavailable', true]]);
  watch.stop();
});
