// How errors from SignalR become AgentErrors: the code found anywhere in the wrapped message, the message cut to
// start at it, and rate_limited's "retry after N s".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentError, errorCode } from '../src/index.js';

const wrapped = text => new Error(`An unexpected error occurred invoking 'SendMessage' on the server. HubException: ${text}`);

test('errorCode finds the code anywhere in the message', () => {
  assert.equal(errorCode(wrapped('not_found: no conversation c_1')), 'not_found');
  assert.equal(errorCode('conflict: request q_1 was already answered'), 'conflict');
  assert.equal(errorCode(new AgentError('too_large', 'text is too long')), 'too_large');
  assert.equal(errorCode(new Error('Invocation canceled due to the underlying connection being closed.')), null);
  assert.equal(errorCode(null), null);
  // A code is a word followed by a colon, not any mention of it.
  assert.equal(errorCode(new Error('the not_found page')), null);
});

test('AgentError.from cuts the message at the code and keeps the cause', () => {
  const cause = wrapped('invalid_argument: conversationId must be 1-64 characters of [A-Za-z0-9_-]');
  const error = AgentError.from(cause);
  assert.ok(error instanceof AgentError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'AgentError');
  assert.equal(error.code, 'invalid_argument');
  assert.equal(error.message, 'invalid_argument: conversationId must be 1-64 characters of [A-Za-z0-9_-]');
  assert.equal(error.cause, cause);
  assert.equal(error.retryAfterMs, undefined);
  assert.equal(AgentError.from(error), error);
});

test('rate_limited carries retryAfterMs', () => {
  const error = AgentError.from(wrapped('rate_limited: too many messages; retry after 7 s'));
  assert.deepEqual([error.code, error.retryAfterMs], ['rate_limited', 7000]);
  const budget = AgentError.from(wrapped('rate_limited: your daily token budget of 100 is spent (120 used); it resets at 2026-12-07T00:00:00Z; retry after 33120 s'));
  assert.equal(budget.retryAfterMs, 33_120_000);
  assert.equal(AgentError.from(wrapped('rate_limited: slow down')).retryAfterMs, undefined);
});

test('without a code: the fallback, or null', () => {
  const lost = AgentError.from(new Error('Invocation canceled due to the underlying connection being closed.'), 'unavailable');
  assert.deepEqual([lost.code, lost.message], ['unavailable', 'unavailable: Invocation canceled due to the underlying connection being closed.']);
  const unknown = AgentError.from(new Error("An unexpected error occurred invoking 'Cancel' on the server."));
  assert.deepEqual([unknown.code, unknown.message], [null, "An unexpected error occurred invoking 'Cancel' on the server."]);
});
