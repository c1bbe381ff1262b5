// agent-client.js: a small client of the Agents hub (/hubs/agent), reusable as is.
//
//   <script src="/lib/signalr.min.js"></script>            (the official @microsoft/signalr browser build)
//   import { AgentClient, errorCode } from '/agent-client.js';
//   const client = new AgentClient({ accessTokenFactory: async () => token });
//   await client.start();
//   const info = await client.create({ text: 'Can you order dinner for two tonight?' });
//   const watch = client.watch(info.id, 0, event => console.log(event.seq, event.type, event.data));
//   ...
//   watch.stop();
//
// The connection reconnects forever (with backoff). A watch survives it: it resumes from the last seq it
// delivered, so its callback sees every event exactly once, in order. Errors thrown by calls are Errors
// whose message holds the contract's code; errorCode(err) extracts it.

const CODES = ['invalid_argument', 'not_found', 'conflict', 'rate_limited', 'too_large', 'unavailable'];
const CODE_PATTERN = new RegExp(`\\b(${CODES.join('|')}):`);

/** The contract's error code in an error from the hub (or null when it has none, e.g. a lost connection). */
export function errorCode(error) {
  const match = CODE_PATTERN.exec(String(error?.message ?? error ?? ''));
  return match ? match[1] : null;
}

/** A new client message id, so that a resent message is stored once. */
export function newClientMessageId() {
  return globalThis.crypto?.randomUUID?.() ?? `m-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

const delay = ms => new Promise(resolve => setTimeout(resolve, ms));
const backoff = attempt => Math.min(10_000, 250 * 2 ** attempt) * (0.75 + Math.random() * 0.5);

export class AgentClient {
  #signalR;
  #connection;
  #stopped = false;
  #starting = null;
  #connected = null;
  #connectedPending = false;
  #resolveConnected = () => {};
  #listeners = new Map();

  /**
   * @param {object} options
   * @param {() => string | Promise<string>} options.accessTokenFactory returns the bearer token; called on every (re)connect.
   * @param {string} [options.hubUrl] defaults to '/hubs/agent'.
   * @param {object} [options.signalR] the @microsoft/signalr module; defaults to the global one from signalr.min.js.
   */
  constructor({ accessTokenFactory, hubUrl = '/hubs/agent', signalR = globalThis.signalR, logLevel } = {}) {
    if (!signalR) {
      throw new Error('AgentClient needs @microsoft/signalr: load signalr.min.js first or pass { signalR }.');
    }

    this.#signalR = signalR;
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
      this.#resolveConnected();
      this.#emit('state', 'connected');
    });
    this.#connection.onclose(() => {
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

  /** Subscribes to 'state' (a state name) or 'conversationCreated' (a conversation info). Returns an unsubscribe function. */
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
    this.#starting ??= (async () => {
      for (let attempt = 0; !this.#stopped; attempt++) {
        if (this.#connection.state === this.#signalR.HubConnectionState.Connected) {
          break;
        }

        try {
          this.#emit('state', 'connecting');
          await this.#connection.start();
          this.#resolveConnected();
          this.#emit('state', 'connected');
          break;
        } catch (error) {
          this.#emit('state', 'disconnected', error);
          await delay(backoff(attempt));
        }
      }
    })().finally(() => { this.#starting = null; });
    return this.#starting;
  }

  /** Disconnects for good; watches end. */
  async stop() {
    this.#stopped = true;
    await this.#connection.stop();
  }

  /** Creates a conversation: { title?, text?, clientMessageId? }; with a text its first run starts. */
  async create({ title, text, clientMessageId } = {}) {
    return this.#invoke('CreateConversation', { title, text, clientMessageId: text ? clientMessageId ?? newClientMessageId() : undefined });
  }

  /** The caller's conversations, most recently updated first. */
  async list() {
    return this.#call('ListConversations', [], true);
  }

  /** One conversation's info. */
  async get(conversationId) {
    return this.#call('GetConversation', [conversationId], true);
  }

  /**
   * Sends a user message: starts a run when idle; during a run, `mode` says what it does: 'steer' (the default: the
   * agent takes it at its next step), 'queue' (starts the next run), 'interrupt' (cuts the step and restarts it with
   * the message) or 'reject' (refused while a run is active). Resolves to { seq }.
   */
  async send(conversationId, text, { clientMessageId = newClientMessageId(), mode } = {}) {
    // Idempotent thanks to the client message id: safe to retry after a lost connection.
    return this.#call('SendMessage', [conversationId, { text, clientMessageId, mode }], true);
  }

  /**
   * A new conversation whose log begins with copies of this one's events 1..afterSeq (where no run is open).
   * Resolves to the new conversation's info. Not retried: a repeat would make a second fork.
   */
  async fork(conversationId, afterSeq) {
    return this.#invoke('ForkConversation', conversationId, afterSeq);
  }

  /**
   * Answers an input request: { requestId, approved?, text? }. Resolves to { seq }, or to { seq: null } when a repeat
   * after a lost reply finds the request answered (the first attempt's answer, most likely: the list shows which).
   */
  async respond(conversationId, { requestId, approved, text }) {
    return this.#call('Respond', [conversationId, { requestId, approved, text }], true, 'conflict');
  }

  /** Cancels the conversation's run, if any. */
  async cancel(conversationId) {
    return this.#call('Cancel', [conversationId], true);
  }

  /**
   * Delivers every event of the conversation with seq > afterSeq, in order and once each, then live events,
   * across reconnects, until stop().
   * @param {(event: object) => void} onEvent called with each envelope { seq, conversationId, runId, type, at, data }.
   * @param {object} [options]
   * @param {(error: Error, willRetry: boolean) => void} [options.onError] told of stream errors; not_found and
   *   invalid_argument end the watch (willRetry false), anything else is retried from the last seq.
   */
  watch(conversationId, afterSeq, onEvent, { onError } = {}) {
    return new AgentWatch({
      conversationId,
      afterSeq: Number(afterSeq) || 0,
      onEvent,
      onError,
      connection: this.#connection,
      whenConnected: () => this.#whenConnected(),
    });
  }

  async #invoke(method, ...args) {
    return this.#call(method, args, false);
  }

  async #call(method, args, retry, repeatDoneCode) {
    for (let attempt = 0; ; attempt++) {
      await this.#whenConnected();
      try {
        return await this.#connection.invoke(method, ...args);
      } catch (error) {
        // A refusal (it carries a code) is final, but for unavailable: another process failed (a silo died) and the
        // same call succeeds in a moment. That and a lost connection are retried for the calls safe to repeat.
        const code = errorCode(error);
        if (attempt > 0 && code && code === repeatDoneCode) {
          return { seq: null };
        }

        if (!retry || (code && code !== 'unavailable') || this.#stopped || attempt >= 5) {
          throw error;
        }

        await delay(backoff(attempt));
      }
    }
  }

  #whenConnected() {
    if (this.#connection.state === this.#signalR.HubConnectionState.Connected) {
      return Promise.resolve();
    }

    if (this.#connection.state === this.#signalR.HubConnectionState.Disconnected && !this.#stopped) {
      this.start();
    }

    return this.#connected;
  }

  #resetConnected() {
    if (this.#connectedPending) {
      return;
    }

    this.#connectedPending = true;
    this.#connected = new Promise(resolve => {
      this.#resolveConnected = () => {
        this.#connectedPending = false;
        resolve();
      };
    });
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

/** A running watch; see AgentClient.watch. */
export class AgentWatch {
  #options;
  #subscription = null;
  #stopped = false;
  #failures = 0;

  constructor(options) {
    this.#options = options;
    this.conversationId = options.conversationId;
    /** The seq of the last event delivered: the cursor a resumed stream starts after. */
    this.lastSeq = options.afterSeq;
    this.#subscribe();
  }

  get stopped() {
    return this.#stopped;
  }

  stop() {
    this.#stopped = true;
    this.#subscription?.dispose();
    this.#subscription = null;
  }

  async #subscribe() {
    await this.#options.whenConnected();
    if (this.#stopped) {
      return;
    }

    const stream = this.#options.connection.stream('Watch', this.conversationId, this.lastSeq);
    this.#subscription = stream.subscribe({
      next: event => {
        if (this.#stopped || event.seq <= this.lastSeq) {
          return;
        }

        this.lastSeq = event.seq;
        this.#failures = 0;
        this.#options.onEvent(event);
      },
      error: error => {
        this.#subscription = null;
        if (this.#stopped) {
          return;
        }

        const code = errorCode(error);
        const fatal = code === 'not_found' || code === 'invalid_argument';
        this.#options.onError?.(error, !fatal);
        if (fatal) {
          this.#stopped = true;
        } else {
          this.#resubscribeLater();
        }
      },
      complete: () => {
        // The server ended the stream (a gateway stopping): pick it up again from the last seq.
        this.#subscription = null;
        if (!this.#stopped) {
          this.#resubscribeLater();
        }
      },
    });
  }

  #resubscribeLater() {
    setTimeout(() => this.#subscribe(), Math.min(5_000, 100 * 2 ** this.#failures++));
  }
}
