// AgentClient's own rules on a scripted stand-in for the SignalR connection: which failures a call tries again,
// which the real service reaches only by failing in ways a test cannot order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HubConnectionState, LogLevel } from '@microsoft/signalr';
import { AgentClient, errorCode } from '../src/index.js';

/**
 * A connection whose invocations answer with `answer(method, args)` (a value, or a thrown error), and which the
 * test drops and restores as a network would.
 */
function scriptedConnection(answer) {
  const handlers = { reconnecting: [], reconnected: [], close: [] };
  const connection = {
    state: HubConnectionState.Disconnected,
    invocations: [],
    async start() {
      connection.state = HubConnectionState.Connected;
    },
    async stop() {
      connection.state = HubConnectionState.Disconnected;
    },
    async invoke(method, ...args) {
      connection.invocations.push({ method, args });
      return answer(method, args, connection.invocations.length);
    },
    on() {},
    onreconnecting: handler => handlers.reconnecting.push(handler),
    onreconnected: handler => handlers.reconnected.push(handler),
    onclose: handler => handlers.close.push(handler),
    drop() {
      connection.state = HubConnectionState.Reconnecting;
      handlers.reconnecting.forEach(handler => handler());
    },
    restore() {
      connection.state = HubConnectionState.Connected;
      handlers.reconnected.forEach(handler => handler());
    },
  };
  return connection;
}

function clientOn(connection, options = {}) {
  class HubConnectionBuilder {
    withUrl() { return this; }
    withAutomaticReconnect() { return this; }
    configureLogging() { return this; }
    build() { return connection; }
  }

  return new AgentClient({ accessTokenFactory: () => 'token', signalR: { HubConnectionBuilder, HubConnectionState, LogLevel }, ...options });
}

const info = { id: 'c_1', title: 't', status: 'idle', lastSeq: 0 };
const serverBug = () => new Error("An unexpected error occurred invoking 'GetConversation' on the server.");
const lost = () => new Error('Invocation canceled due to the underlying connection being closed.');

test('a failure without a code on a connection still up is not tried again', async () => {
  const connection = scriptedConnection(() => { throw serverBug(); });
  const client = clientOn(connection);
  await client.start();
  await assert.rejects(client.get('c_1'), error => errorCode(error) === null && /unexpected error/.test(error.message));
  assert.equal(connection.invocations.length, 1);
  await client.stop();
});

// The first get fails as `failFirst` makes it fail; the client calls again and gets the answer.
async function assertGetTriedAgain(failFirst) {
  const connection = scriptedConnection((method, args, n) => {
    if (n === 1) failFirst(connection);
    return info;
  });
  const client = clientOn(connection);
  await client.start();
  assert.deepEqual(await client.get('c_1'), info);
  assert.equal(connection.invocations.length, 2);
  await client.stop();
}

test('unavailable is tried again', () => assertGetTriedAgain(() => {
  throw new Error('HubException: unavailable: the cluster could not serve the request; retry shortly');
}));

test('a failure without a code with the connection lost is tried again once it is back', () => assertGetTriedAgain(connection => {
  connection.drop();
  setTimeout(() => connection.restore(), 50);
  throw lost();
}));

test('respond: a repeat after a lost reply that meets conflict resolves to { seq: null }', async () => {
  const connection = scriptedConnection((method, args, n) => {
    if (n === 1) {
      connection.drop();
      setTimeout(() => connection.restore(), 50);
      throw lost();
    }

    throw new Error('HubException: conflict: request q_1 was already answered');
  });
  const client = clientOn(connection);
  await client.start();
  assert.deepEqual(await client.respond('c_1', { requestId: 'q_1', approved: true }), { seq: null });
  // The first attempt's conflict is a refusal like any other.
  await assert.rejects(client.respond('c_1', { requestId: 'q_1', approved: true }), error => error.code === 'conflict');
  await client.stop();
});

test('a call waits connectTimeoutMs for a connection that does not come, then rejects with unavailable', async () => {
  const connection = scriptedConnection(() => info);
  connection.start = () => new Promise(() => {});
  const client = clientOn(connection, { connectTimeoutMs: 100 });
  const started = Date.now();
  await assert.rejects(client.get('c_1'), error => error.code === 'unavailable' && /no connection/.test(error.message));
  assert.ok(Date.now() - started >= 95);
  assert.equal(connection.invocations.length, 0);
  await client.stop();
});

test('create passes on the caller\'s clientMessageId and makes none of its own', async () => {
  const connection = scriptedConnection(() => info);
  const client = clientOn(connection);
  await client.start();
  await client.create({ text: 'hello' });
  await client.create({ text: 'hello', clientMessageId: 'm_1' });
  assert.deepEqual(connection.invocations.map(i => [i.method, i.args[0].clientMessageId]), [['CreateConversation', undefined], ['CreateConversation', 'm_1']]);
  await client.stop();
});
