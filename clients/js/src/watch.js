import { backoff } from './backoff.js';
import { AgentError, errorCode } from './errors.js';

/** Refusals that watching again cannot change: the watch ends. */
const FATAL_CODES = new Set(['not_found', 'invalid_argument']);

/**
 * A running watch of one conversation (made by AgentClient.watch): delivers each event once, in order, across lost
 * streams and reconnects, by watching again from the last seq it delivered.
 */
export class AgentWatch {
  #options;
  #subscription = null;
  // Bumped on each subscription, so that a late item of a stream given up on is not taken for one of the current one.
  #generation = 0;
  #stopped = false;
  #failures = 0;
  #giveUpTimer = null;
  #retryTimer = null;

  /** @internal Made by AgentClient.watch. */
  constructor({ giveUpAfterMs = 60_000, ...options }) {
    this.#options = { ...options, giveUpAfterMs };
    this.conversationId = options.conversationId;
    /** The seq of the last event delivered: the cursor a resumed stream starts after. */
    this.lastSeq = options.afterSeq;
    // Nothing is known to work yet: the clock runs until the first event or the service's word that there is none.
    this.#troubled();
    this.#subscribe();
  }

  /** Whether the watch has ended (stop(), a fatal refusal, or giving up). */
  get stopped() {
    return this.#stopped;
  }

  stop() {
    if (this.#stopped) {
      return;
    }

    this.#stopped = true;
    clearTimeout(this.#giveUpTimer);
    clearTimeout(this.#retryTimer);
    this.#unsubscribe();
    this.#options.onStopped?.(this);
  }

  async #subscribe() {
    if (this.#stopped) {
      return;
    }

    try {
      await this.#options.whenConnected();
    } catch {
      // The client was stopped; it stops its watches too.
      return;
    }

    if (this.#stopped) {
      return;
    }

    const generation = ++this.#generation;
    const current = () => generation === this.#generation && !this.#stopped;
    this.#subscription = this.#options.connection.stream('Watch', this.conversationId, this.lastSeq).subscribe({
      next: event => {
        if (current()) {
          this.#deliver(event);
        }
      },
      error: error => {
        if (current()) {
          this.#lost(error);
        }
      },
      // The server ended the stream (a gateway stopping): pick it up again from the last seq.
      complete: () => {
        if (current()) {
          this.#lost(null);
        }
      },
    });
    this.#confirm(current);
  }

  /**
   * An open stream says nothing while there is nothing new, so silence alone cannot tell a healthy watch from a
   * stuck one: the service's answer that the conversation has nothing after lastSeq counts as progress.
   */
  async #confirm(current) {
    try {
      const info = await this.#options.connection.invoke('GetConversation', this.conversationId);
      if (current() && info.lastSeq <= this.lastSeq) {
        this.#progressed();
      }
    } catch {
      // The stream reports its own failure; this was only a probe.
    }
  }

  #deliver(event) {
    if (event.seq <= this.lastSeq) {
      return;
    }

    if (event.seq > this.lastSeq + 1) {
      // Something was skipped: never deliver past a hole, watch again from the last seq delivered.
      this.#unsubscribe();
      this.#troubled();
      this.#subscribe();
      return;
    }

    this.lastSeq = event.seq;
    this.#progressed();
    try {
      this.#options.onEvent(event);
    } catch (error) {
      // A handler's bug must not cost the other events their delivery.
      console.error(error);
    }
  }

  #lost(error) {
    this.#subscription = null;
    const code = error ? errorCode(error) : null;
    if (FATAL_CODES.has(code)) {
      this.stop();
      this.#options.onError?.(AgentError.from(error), false);
      return;
    }

    if (error) {
      this.#options.onError?.(AgentError.from(error, 'unavailable'), true);
    }

    this.#troubled();
    this.#retryTimer = setTimeout(() => this.#subscribe(), backoff(this.#failures++));
  }

  #troubled() {
    const { giveUpAfterMs } = this.#options;
    if (this.#giveUpTimer === null && Number.isFinite(giveUpAfterMs)) {
      this.#giveUpTimer = setTimeout(() => this.#giveUp(), giveUpAfterMs);
    }
  }

  #progressed() {
    this.#failures = 0;
    clearTimeout(this.#giveUpTimer);
    this.#giveUpTimer = null;
  }

  #giveUp() {
    this.#giveUpTimer = null;
    if (this.#stopped) {
      return;
    }

    this.stop();
    const error = new AgentError('unavailable', `no progress watching ${this.conversationId} after seq ${this.lastSeq} for ${this.#options.giveUpAfterMs} ms`);
    this.#options.onError?.(error, false);
  }

  #unsubscribe() {
    this.#generation++;
    this.#subscription?.dispose();
    this.#subscription = null;
  }
}
