// A client of the Agents hub (/hubs/agent). The connection reconnects forever, with backoff; a watch survives it by
// resuming from the last seq it delivered; the calls that are safe to repeat are retried after a lost connection or
// `unavailable`. Calls reject with AgentError.
import { backoff } from './backoff.js';
import { AgentError, errorCode } from './errors.js';
import { AgentWatch } from './watch.js';

/** A new client message id, so that a resent message is stored once. */
export function newClientMessageId() {
  return globalThis.crypto?.randomUUID?.() ?? `m-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

const MAX_ATTEMPTS = 6;

export class AgentClient {
  #signalR;
  #connection;
  #connectTimeoutMs;
  #stopped = false;
  #starting = null;
  #connected = null;
  #resolveConnected = null;
  #listeners = new Map();
  #watches = new Set();
  #sleeps = new Set();

  /**
   * @param {object} options
   * @param {() => string | Promise<string>} options.accessTokenFactory the bearer token; asked on every (re)connect.
   * @param {string} [options.hubUrl] defaults to '/hubs/agent' (absolute in node).
   * @param {object} [options.signalR] the @microsoft/signalr module; defaults to the global one of signalr.min.js.
   * @param {number} [options.logLevel] a signalR.LogLevel; defaults to Warning.
   * @param {number} [options.connectTimeoutMs] how long a call waits for the connection before it rejects with
   *   unavailable; 30 s by default (as the .NET client's ConnectTimeout).
   */
  constructor({ accessTokenFactory, hubUrl = '/hubs/agent', signalR = globalThis.signalR, logLevel, connectTimeoutMs = 30_000 } = {}) {
    if (!signalR) {
      throw new Error('AgentClient needs @microsoft/signalr: load signalr.min.js first or pass { signalR }.');
    }

    this.#signalR = signalR;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#connection = new signalR.HubConnectionBuilder()
      .withUrl(hubUrl, { accessTokenFactory })
      .withAutomaticReconnect({ nextRetryDelayInMilliseconds: context => backoff(context.previousRetryCount) })
      .configureLogging(logLevel ?? signalR.LogLevel.Warning)
      .build();
    this.#resetConnected();
    this.#connection.onreconnecting(() => {
      this.#resetConnected();
      this.#emit('state', 'reconnecting');
    });
    this.#connection.onreconnected(() => {
      this.#resolveConnected?.();
      this.#emit('state', 'connected');
    });
    this.#connection.onclose(() => {
      // Reconnecting never gives up (the retry delay above never says stop), but a server that closes the connection
      // and disallows reconnecting ends it here: this client starts again all the same.
      this.#resetConnected();
      this.#emit('state', 'disconnected');
      if (!this.#stopped) {
        this.start();
      }
    });
    this.#connection.on('ConversationCreated', info => this.#emit('conversationCreated', info));
  }

  /** 'connecting' | 'connected' | 'reconnecting' | 'disconnected' */
  get state() {
    const { HubConnectionState } = this.#signalR;
    switch (this.#connection.state) {
      case HubConnectionState.Connected: return 'connected';
      case HubConnectionState.Reconnecting: return 'reconnecting';
      case HubConnectionState.Connecting: return 'connecting';
      default: return 'disconnected';
    }
  }

  /** Subscribes to 'state' (a state name) or 'conversationCreated' (a conversation info); returns the unsubscribe. */
  on(name, handler) {
    if (!this.#listeners.has(name)) {
      this.#listeners.set(name, new Set());
    }

    this.#listeners.get(name).add(handler);
    return () => this.#listeners.get(name).delete(handler);
  }

  /** Connects, retrying with backoff until it succeeds or stop() is called. */
  start() {
    this.#stopped = false;
    // After stop() the calls waiting were let go; new ones wait for this start.
    this.#resetConnected();
    this.#starting ??= (async () => {
      for (let attempt = 0; !this.#stopped; attempt++) {
        if (this.#connection.state === this.#signalR.HubConnectionState.Connected) {
          this.#resolveConnected?.();
          break;
        }

        try {
          this.#emit('state', 'connecting');
          await this.#connection.start();
          this.#resolveConnected?.();
          this.#emit('state', 'connected');
          break;
        } catch (error) {
          this.#emit('state', 'disconnected', error);
          await this.#sleep(backoff(attempt));
        }
      }
    })().finally(() => { this.#starting = null; });
    return this.#starting;
  }

  /** Disconnects for good: watches end, and calls still waiting for a connection reject with unavailable. */
  async stop() {
    this.#stopped = true;
    for (const watch of [...this.#watches]) {
      watch.stop();
    }

    this.#rejectConnected(new AgentError('unavailable', 'the client was stopped'));
    for (const wake of [...this.#sleeps]) {
      wake();
    }

    await this.#connection.stop();
  }

  /**
   * Creates a conversation; with a text its first run starts, and the caller's clientMessageId, if any, is stored
   * with it. Not retried (so none is made up): the service names the conversation on each call, and a repeat would
   * make a second one.
   */
  async create({ title, text, clientMessageId } = {}) {
    return this.#call('CreateConversation', [{ title, text, clientMessageId }]);
  }

  /** The caller's top-level conversations, most recently updated first. */
  async list() {
    return this.#call('ListConversations', [], { retry: true });
  }

  /** One conversation's info. */
  async get(conversationId) {
    return this.#call('GetConversation', [conversationId], { retry: true });
  }

  /** The sub-agent conversations a conversation started. */
  async listChildren(conversationId) {
    return this.#call('ListChildren', [conversationId], { retry: true });
  }

  /**
   * Sends a user message: starts a run when idle; during a run, `mode` says what it does: 'steer' (the default: the
   * agent takes it at its next step), 'queue' (starts the next run), 'interrupt' (cuts the step and restarts it with
   * the message) or 'reject' (refused with conflict while a run is active). Resolves to { seq }.
   */
  async send(conversationId, text, { clientMessageId = newClientMessageId(), mode } = {}) {
    // Idempotent thanks to the client message id: a repeat is told the first seq.
    return this.#call('SendMessage', [conversationId, { text, clientMessageId, mode }], { retry: true });
  }

  /**
   * Answers an input request: { requestId, approved?, text? } (text: the answer to a question, or a remark with an
   * approval). Resolves to { seq }, or to { seq: null } when a repeat after a lost reply finds the request answered:
   * most likely by the first attempt, whose answer the conversation shows.
   */
  async respond(conversationId, { requestId, approved, text }) {
    return this.#call('Respond', [conversationId, { requestId, approved, text }], { retry: true, doneOnRepeat: { code: 'conflict', value: { seq: null } } });
  }

  /** Cancels the conversation's run, if any. */
  async cancel(conversationId) {
    return this.#call('Cancel', [conversationId], { retry: true });
  }

  /**
   * A new conversation whose log begins with copies of this one's events 1..afterSeq (where no run is open).
   * Resolves to the new conversation's info. Not retried: a repeat would make a second fork.
   */
  async fork(conversationId, afterSeq) {
    return this.#call('ForkConversation', [conversationId, afterSeq]);
  }

  /** Deletes the conversation (cancelling its run, deleting its sub-agents); its watches end with not_found. */
  async delete(conversationId) {
    // A repeat that finds it gone was the first attempt's success.
    return this.#call('DeleteConversation', [conversationId], { retry: true, doneOnRepeat: { code: 'not_found', value: undefined } });
  }

  /** The caller's token spend today and the daily budget: { today: { inputTokens, outputTokens }, limit, resetsAt }. */
  async getUsage() {
    return this.#call('GetUsage', [], { retry: true });
  }

  /**
   * Delivers every event of the conversation with seq > afterSeq, in order and once each, then live events, across
   * reconnects, until stop().
   * @param {string} conversationId
   * @param {number} afterSeq 0 for the whole log.
   * @param {(event: object) => void} onEvent called with each envelope { seq, conversationId, runId, type, at, data }.
   * @param {object} [options]
   * @param {(error: AgentError, willRetry: boolean) => void} [options.onError] told of each lost stream; not_found and
   *   invalid_argument end the watch (willRetry false), anything else is watched again from the last seq.
   * @param {number} [options.giveUpAfterMs] how long the watch keeps trying after a failure (a lost connection, a
   *   stream error) without delivering an event before it ends with unavailable (willRetry false); 60 s by default,
   *   Infinity for never. An open stream with nothing new is not a failure.
   */
  watch(conversationId, afterSeq, onEvent, { onError, giveUpAfterMs } = {}) {
    const watch = new AgentWatch({
      conversationId,
      afterSeq: Number(afterSeq) || 0,
      onEvent,
      onError,
      giveUpAfterMs,
      connection: this.#connection,
      whenConnected: timeoutMs => this.#whenConnected(timeoutMs),
      onStopped: stopped => this.#watches.delete(stopped),
    });
    this.#watches.add(watch);
    return watch;
  }

  /**
   * Invokes a hub method. With `retry`, unavailable or a lost connection is tried again (the call must be safe to
   * repeat); `doneOnRepeat` is the refusal that, met by a repeat, means the first attempt was done, and what to return.
   */
  async #call(method, args, { retry = false, doneOnRepeat = null } = {}) {
    for (let attempt = 0; ; attempt++) {
      await this.#whenConnected(this.#connectTimeoutMs);
      try {
        return await this.#connection.invoke(method, ...args);
      } catch (error) {
        const code = errorCode(error);
        if (attempt > 0 && code && code === doneOnRepeat?.code) {
          return doneOnRepeat.value;
        }

        // Worth another try: unavailable (another process failed, a silo died, and the same call succeeds in a
        // moment), or a failure with no code that came with a lost connection. A refusal is final, and so is a
        // failure with no code on a connection still up: the server failed at the call itself and would again.
        const connectionLost = this.#connection.state !== this.#signalR.HubConnectionState.Connected;
        const transient = code === 'unavailable' || (!code && connectionLost);
        if (!retry || !transient || this.#stopped || attempt + 1 >= MAX_ATTEMPTS) {
          throw AgentError.from(error, connectionLost ? 'unavailable' : null);
        }

        await this.#sleep(backoff(attempt));
      }
    }
  }

  // A wait that stop() cuts short, so that a stopped client holds no timer (and a node process can exit).
  #sleep(ms) {
    if (this.#stopped) {
      return Promise.resolve();
    }

    return new Promise(resolve => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleeps.add(wake);
    });
  }

  /** Resolves once connected; rejects with unavailable when stopped, or after `timeoutMs` without a connection. */
  #whenConnected(timeoutMs) {
    if (this.#stopped) {
      return Promise.reject(new AgentError('unavailable', 'the client was stopped'));
    }

    if (this.#connection.state === this.#signalR.HubConnectionState.Connected) {
      return Promise.resolve();
    }

    if (this.#connection.state === this.#signalR.HubConnectionState.Disconnected) {
      this.start();
    }

    const { promise } = this.#connected;
    if (!Number.isFinite(timeoutMs)) {
      return promise;
    }

    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new AgentError('unavailable', `no connection to the service within ${timeoutMs} ms`)), Math.max(0, timeoutMs));
      promise.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  // One promise per disconnected spell: every call and watch waiting for the connection is let go together.
  #resetConnected() {
    if (this.#resolveConnected) {
      return;
    }

    let resolve;
    let reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    // Nobody may be waiting when the client is stopped.
    promise.catch(() => {});
    this.#connected = { promise, reject };
    this.#resolveConnected = () => {
      this.#resolveConnected = null;
      resolve();
    };
  }

  #rejectConnected(error) {
    if (this.#resolveConnected) {
      this.#resolveConnected = null;
      this.#connected.reject(error);
    }
  }

  #emit(name, ...args) {
    for (const handler of this.#listeners.get(name) ?? []) {
      try {
        handler(...args);
      } catch (error) {
        console.error(error);
      }
    }
  }
}
