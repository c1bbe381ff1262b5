// The timeline's one-line steps: progress notes and the run's own events (resumed, ended).
import { el, setText } from './dom.js';

/** An error the log recorded ({ code, message }), as one line. */
export function errorText(error) {
  return error?.message ?? error?.code ?? 'unknown error';
}

export class ProgressView {
  #label = el('span', { className: 'label' });

  constructor(item) {
    this.element = el('li', { className: 'step progress' }, this.#label);
    this.update(item);
  }

  update(item) {
    setText(this.#label, item.text);
  }
}

const RUN_TEXT = {
  resumed: item => `The run resumed after a ${item.reason ?? 'restart'}.`,
  completed: () => 'Done.',
  failed: item => `The run failed: ${errorText(item.error)}`,
  cancelled: () => 'The run was cancelled.',
};

/** A run's resumption or end; an end offers Retry when the run was started by a message (see UserMessageView). */
export class RunView {
  #label = el('span', { className: 'label' });

  /** @param ctx {{ runStarter(runId): object|null, forkAndSend(afterSeq, text, button) }} */
  constructor(item, ctx) {
    const ended = item.event !== 'resumed';
    this.element = el('li', { className: `step ${ended ? 'end' : 'resumed'}` }, this.#label);
    this.update(item);
    const starter = ended ? ctx.runStarter(item.runId) : null;
    if (starter) {
      const retry = el('button', {
        type: 'button',
        className: 'secondary retry',
        textContent: 'Retry',
        title: 'Run this message again in a new conversation forked before it',
      });
      retry.addEventListener('click', () => ctx.forkAndSend(starter.seq - 1, starter.text, retry));
      this.element.append(retry);
    }
  }

  update(item) {
    if (item.event !== 'resumed') {
      this.element.dataset.outcome = item.event;
    }

    setText(this.#label, RUN_TEXT[item.event]?.(item) ?? item.event);
  }
}
