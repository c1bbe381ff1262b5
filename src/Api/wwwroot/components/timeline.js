// One conversation's timeline, drawn from the reducer's state: one view per item, keyed by item.id.
import { KeyedList } from './keyed-list.js';
import { AssistantMessageView, UserMessageView } from './messages.js';
import { ProgressView, RunView } from './steps.js';
import { ToolStepView } from './tool-step.js';

const VIEWS = {
  user: UserMessageView,
  assistant: AssistantMessageView,
  progress: ProgressView,
  tool: ToolStepView,
  run: RunView,
};

export class Timeline {
  #list;
  #scope;
  #state = null;
  #announced = new Set(); // request ids already shown open

  /**
   * @param element the <ol role="log">
   * @param scope the conversation's section: focus in it (and not in a field holding text) may move to a new request
   * @param ctx what the views act with: { client, respond, forkAndSend, open }
   */
  constructor(element, scope, ctx) {
    this.#scope = scope;
    const runStarter = runId => this.#state?.items.find(item => item.kind === 'user' && item.startsRun && item.runId === runId) ?? null;
    const viewCtx = { ...ctx, runStarter };
    this.#list = new KeyedList(element, { keyOf: item => item.id, create: item => new VIEWS[item.kind](item, viewCtx) });
  }

  render(state) {
    this.#state = state;
    this.#list.render(state.items.filter(item => item.kind in VIEWS));
    this.#focusNewRequest(state.openRequests);
  }

  dispose() {
    this.#list.dispose();
  }

  /** A request that has just appeared takes focus, if that takes it from nobody at work (see mayTakeFocus). */
  #focusNewRequest(openRequests) {
    const fresh = openRequests.filter(request => !this.#announced.has(request.requestId));
    for (const request of fresh) {
      this.#announced.add(request.requestId);
    }

    const control = fresh.map(request => this.#list.viewOf(request.callId)?.requestControl).find(Boolean);
    if (control && mayTakeFocus(this.#scope)) {
      control.focus();
    }
  }
}

/**
 * Focus may move to a new request when it rests on the page itself or somewhere in the open conversation (its
 * timeline, its buttons, an empty composer): that is where the user is following the run. It stays put in a field
 * holding text (someone typing there would type into the card instead), and in the sidebar or the top bar (someone
 * doing something else). They still hear of the request: the run status (role=status) says it waits for them.
 */
function mayTakeFocus(scope) {
  const active = document.activeElement;
  if (!active || active === document.body) {
    return true;
  }

  const holdsText = active.matches('input, textarea') ? active.value !== '' : active.isContentEditable && active.textContent !== '';
  return scope.contains(active) && !holdsText;
}
