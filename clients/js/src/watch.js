import { backoff } from './backoff.js';
import { AgentError } from './errors.js';

/** Refusals that watching again cannot change: the watch ends. */
const FATAL_CODES = new Set(['not_found', 'invalid_argument']);

/**
 * A running watch of one conversation (made by AgentClient.watch): delivers each event once, in order, across lost
 * streams and reconnects, by watching again from the last seq it delivered.
 *
 * It gives up as the .NET client's WatchAsync does: the clock starts at a failure (a lost connection, a stream
 * error, a hole in the seqs) and only a delivered event stops it. An open stream says nothing while the conversation
 * has nothing new, so silence is never a failure, and no call is spent asking whether it is.
 */
export class AgentWatch {
  #options;
  #subscription = null;
  // Bumped on each subscription, so that a late item of a stream given up on is not taken for one of the current one.
  #generation = 0;
  #stopped = false;
  #attempt = 0;
  // When the failures since the last delivered event began; null while there are none.
  #failingSince = null;
  #retryTimer = null;

  /** @internal Made by AgentClient.watch. */
  constructor({ giveUpAfterMs = 60_000, ...options }) {
    this.#options = { ...options, giveUpAfterMs };
    this.conversationId = options.conversationId;
    /** The seq of the last event delivered: the cursor a resumed stream starts after. */
    this.lastSeq = options.afterSeq;
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
    clearTimeout(this.#retryTimer);
    this.#unsubscribe();
    this.#options.onStopped?.(this);
  }

  async #subscribe() {
    if (this.#stopped) {
      return;
    }

    try {
      // Waiting for the connection spends what is left of the watch's patience, and no more.
      await this.#options.whenConnected(this.#patienceLeft());
    } catch (error) {
      // A stopped client stops its watches first: only a wait that ran out is news.
      if (!this.#stopped) {
        this.#giveUp(AgentError.from(error, 'unavailable'));
      }

      return;
    }

    if (this.#stopped) {
      return;
    }

    const generation = ++this.#generation;
    const current = () => generation === this.#generation && !this.#stopped;
    // Batches: the same events as Watch, a replay in a few messages rather than one per event.
    this.#subscription = this.#options.connection.stream('WatchBatches', this.conversationId, this.lastSeq).subscribe({
      next: batch => {
        for (const event of batch) {
          if (!current() || !this.#deliver(event)) {
            return;
          }
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
  }

  /** Whether the watch goes on with this stream (false after a hole, which watches again). */
  #deliver(event) {
    if (event.seq <= this.lastSeq) {
      return true;
    }

    if (event.seq > this.lastSeq + 1) {
      // Something was skipped: never deliver past a hole, watch again from the last seq delivered.
      this.#unsubscribe();
      this.#retry(null);
      return false;
    }

    this.lastSeq = event.seq;
    this.#failingSince = null;
    this.#attempt = 0;
    try {
      this.#options.onEvent(event);
    } catch (error) {
      // A handler's bug must not cost the other events their delivery.
      console.error(error);
    }

    return true;
  }

  #lost(error) {
    this.#subscription = null;
    const failure = error && AgentError.from(error, 'unavailable');
    if (FATAL_CODES.has(failure?.code)) {
      this.stop();
      this.#options.onError?.(failure, false);
      return;
    }

    this.#retry(failure);
  }

  /** Watches again after a backoff, unless the failures since the last delivered event have lasted too long. */
  #retry(failure) {
    this.#failingSince ??= Date.now();
    if (this.#patienceLeft() <= 0) {
      this.#giveUp(failure);
      return;
    }

    if (failure) {
      this.#options.onError?.(failure, true);
    }

    this.#retryTimer = setTimeout(() => this.#subscribe(), backoff(this.#attempt++));
  }

  #patienceLeft() {
    const { giveUpAfterMs } = this.#options;
    return this.#failingSince === null ? giveUpAfterMs : giveUpAfterMs - (Date.now() - this.#failingSince);
  }

  #giveUp(cause) {
    this.stop();
    const error = new AgentError('unavailable', `could not watch ${this.conversationId} after seq ${this.lastSeq} for ${this.#options.giveUpAfterMs} ms`, { cause });
    this.#options.onError?.(error, false);
  }

  #unsubscribe() {
    this.#generation++;
    this.#subscription?.dispose();
    this.#subscription = null;
  }
}
