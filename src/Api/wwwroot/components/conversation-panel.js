// The open conversation: its header (title, run status, Cancel), its timeline and the composer. It folds the
// conversation's log with the package's store and draws the latest state once a frame.
import { setText } from './dom.js';
import { watchConversation } from './live-conversation.js';
import { describe } from './notice.js';
import { Timeline } from './timeline.js';

const STATUS_TEXT = {
  running: () => 'Working…',
  waiting: () => 'Waiting for your answer',
  idle: outcome => (outcome ? `Run ${outcome}` : 'Idle'),
};

export class ConversationPanel {
  #ui;
  #app;
  #open = null; // { id, client, live, timeline }

  /**
   * @param ui the page's elements (see app.js)
   * @param app { notice, open(id), forkAndSend(id, afterSeq, text, button), report(patch), lost(error) }
   */
  constructor(ui, app) {
    this.#ui = ui;
    this.#app = app;
    ui.composer.addEventListener('submit', e => {
      e.preventDefault();
      // Send steers the run (the default); the other buttons name their mode.
      this.#send(e.submitter?.value || undefined);
    });
    ui.message.addEventListener('keydown', e => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        ui.composer.requestSubmit();
      }
    });
    ui.cancel.addEventListener('click', () => this.#cancel());
  }

  get id() {
    return this.#open?.id ?? null;
  }

  /** Shows the conversation `info` (at least { id }), watching its log from the start. */
  open(client, info) {
    this.close();
    const { id } = info;
    const ui = this.#ui;
    ui.conversation.hidden = false;
    ui.empty.hidden = true;
    setText(ui.title, info.title || id);
    // What the list knew; the log's own status replaces it at the first render.
    this.#showStatus(info.status ?? 'idle', info.lastRunOutcome ?? null);
    delete ui.timeline.dataset.lastSeq;

    const open = { id, client };
    open.timeline = new Timeline(ui.timeline, ui.conversation, {
      client,
      open: childId => this.#app.open(childId),
      respond: answer => client.respond(id, answer),
      forkAndSend: (afterSeq, text, button) => this.#app.forkAndSend(id, afterSeq, text, button),
    });
    open.live = watchConversation(client, id, {
      onChange: state => this.#render(open, state),
      onLost: error => this.#app.lost(error),
    });
    this.#open = open;
  }

  /** A conversation's info changed (its title, most likely): shown if it is the open one. */
  setInfo(info) {
    if (info.id === this.id) {
      setText(this.#ui.title, info.title || info.id);
    }
  }

  close() {
    const open = this.#open;
    this.#open = null;
    open?.live.stop();
    open?.timeline.dispose();
    this.#ui.conversation.hidden = true;
    this.#ui.empty.hidden = false;
  }

  #render(open, state) {
    const ui = this.#ui;
    const stick = isNearEnd();
    open.timeline.render(state);
    // For people debugging (and tests): how far the view has folded the log.
    ui.timeline.dataset.lastSeq = String(state.lastSeq);
    this.#showStatus(state.status, state.lastRunOutcome);
    this.#report(open, state);
    if (stick) {
      // To the very end, the composer under the timeline included: the next render measures from there.
      const page = document.scrollingElement;
      page.scrollTop = page.scrollHeight;
    }
  }

  /** Tells the list what it shows of this conversation (its status, and that it moved up); the app skips what it knows. */
  #report(open, state) {
    const run = state.runs.at(-1);
    if (run) {
      this.#app.report({ id: open.id, status: state.status, lastRunOutcome: state.lastRunOutcome, updatedAt: run.endedAt ?? run.startedAt });
    }
  }

  #showStatus(status, outcome) {
    const ui = this.#ui;
    ui.runStatus.dataset.status = status;
    setText(ui.runStatus, STATUS_TEXT[status](outcome));
    ui.cancel.hidden = status === 'idle';
    // What a message does to a run matters only while one is going.
    ui.sendQueue.hidden = status === 'idle';
    ui.sendInterrupt.hidden = status === 'idle';
  }

  async #send(mode) {
    const open = this.#open;
    const text = this.#ui.message.value.trim();
    if (!text || !open) {
      return;
    }

    this.#app.notice.clear();
    this.#ui.message.value = '';
    try {
      await open.client.send(open.id, text, { mode });
    } catch (error) {
      this.#ui.message.value = text;
      this.#app.notice.show(`Not sent: ${describe(error)}`);
    }
  }

  async #cancel() {
    const open = this.#open;
    if (!open) {
      return;
    }

    this.#ui.cancel.disabled = true;
    try {
      await open.client.cancel(open.id);
    } catch (error) {
      this.#app.notice.show(`Could not cancel: ${describe(error)}`);
    } finally {
      this.#ui.cancel.disabled = false;
    }
  }
}

/** Whether the page is scrolled to (near) its end: the reader is following the run. */
function isNearEnd() {
  const page = document.scrollingElement;
  return page.scrollHeight - page.scrollTop - page.clientHeight < 120;
}
