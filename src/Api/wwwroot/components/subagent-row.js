// A sub-agent under its parent's tool step: its title and outcome; opened, it folds the child's own log and
// shows the child's messages as they stream; "Open" shows the child as a conversation of its own.
import { el, setText } from './dom.js';
import { KeyedList } from './keyed-list.js';
import { watchConversation } from './live-conversation.js';
import { AssistantMessageView } from './messages.js';

export class SubagentRow {
  #ctx;
  #status = el('span', { className: 'status' });
  #log = el('ol', { className: 'child-log' });
  #details;
  #live = null;
  #messages = null;

  /** @param ctx {{ client, open(conversationId) }} */
  constructor(child, ctx) {
    this.#ctx = ctx;
    this.#details = el('details', {},
      el('summary', {}, el('span', { className: 'label', textContent: `Sub-agent: ${child.title}` }), ' ', this.#status),
      this.#log);
    this.#details.addEventListener('toggle', () => (this.#details.open ? this.#watch(child.childId) : this.#unwatch()));
    const open = el('button', { type: 'button', className: 'open-child', textContent: 'Open' });
    open.addEventListener('click', () => ctx.open(child.childId));
    this.element = el('li', { className: 'step subagent', dataset: { childId: child.childId } }, this.#details, open);
    this.update(child);
  }

  update(child) {
    this.element.dataset.state = child.outcome ?? 'running';
    setText(this.#status, child.outcome ?? 'running');
  }

  dispose() {
    this.#unwatch();
  }

  #watch(childId) {
    if (this.#live) {
      return;
    }

    this.#log.replaceChildren();
    const messages = new KeyedList(this.#log, { keyOf: item => item.id, create: item => new AssistantMessageView(item, { author: null }) });
    this.#messages = messages;
    this.#live = watchConversation(this.#ctx.client, childId, {
      onChange: state => messages.render(state.items.filter(item => item.kind === 'assistant')),
      onLost: () => {
        this.#unwatch();
        this.#log.replaceChildren(el('li', { className: 'note', textContent: 'The sub-agent\'s log cannot be shown.' }));
      },
    });
  }

  #unwatch() {
    this.#live?.stop();
    this.#live = null;
    this.#messages?.dispose();
    this.#messages = null;
  }
}
