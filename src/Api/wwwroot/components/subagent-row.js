// A sub-agent under its parent's tool step: its title and outcome; opened, it folds the child's own log and
// shows the child's messages as they stream; "Open" shows the child as a conversation of its own.
import { el, setText } from './dom.js';
import { KeyedList } from './keyed-list.js';
import { watchConversation } from './live-conversation.js';
import { MarkdownView } from './markdown.js';

export class SubagentRow {
  #ctx;
  #status = el('span', { className: 'status' });
  #text = el('div', { className: 'text' });
  #details;
  #live = null;
  #messages = null;

  /** @param ctx {{ client, open(conversationId) }} */
  constructor(child, ctx) {
    this.#ctx = ctx;
    this.#details = el('details', {},
      el('summary', {}, el('span', { className: 'label', textContent: `Sub-agent: ${child.title}` }), ' ', this.#status),
      this.#text);
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

    this.#text.replaceChildren();
    const messages = new KeyedList(this.#text, { keyOf: item => item.id, create: item => new ChildMessage(item) });
    this.#messages = messages;
    this.#live = watchConversation(this.#ctx.client, childId, {
      onChange: state => messages.render(state.items.filter(item => item.kind === 'assistant')),
      onLost: () => {
        this.#unwatch();
        this.#text.textContent = 'The sub-agent\'s log cannot be shown.';
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

class ChildMessage {
  #markdown;

  constructor(item) {
    this.element = el('div', { className: 'child-message' });
    this.#markdown = new MarkdownView(this.element);
    this.update(item);
  }

  update(item) {
    this.#markdown.render(item.text);

    this.element.classList.toggle('streaming', item.streaming);
  }
}
