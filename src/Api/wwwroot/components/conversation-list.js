// The sidebar's list of conversations, most recently updated first. Entries are updated in place, keyed by id,
// so a refresh (a new conversation, a run that ends) leaves focus and the user's place in the list alone.
import { el, setAttr, setText } from './dom.js';
import { KeyedList } from './keyed-list.js';

export class ConversationList {
  #list;
  #currentId = null;

  /** @param onSelect {(id: string) => void} */
  constructor(element, onSelect) {
    this.#list = new KeyedList(element, { keyOf: info => info.id, create: info => new ConversationEntry(info, onSelect) });
  }

  /** Shows `infos` (ConversationInfo objects, replaced when they change), marking `currentId` as the one open. */
  render(infos, currentId) {
    const sorted = [...infos].sort((a, b) => (Date.parse(b.updatedAt) || 0) - (Date.parse(a.updatedAt) || 0));
    this.#list.render(sorted);
    if (this.#currentId !== currentId) {
      this.#list.viewOf(this.#currentId)?.setCurrent(false);
    }

    // Also when it did not change: the open one may have joined the list only now.
    this.#list.viewOf(currentId)?.setCurrent(true);
    this.#currentId = currentId;
  }

  clear() {
    this.#currentId = null;
    this.#list.dispose();
  }
}

class ConversationEntry {
  #button;
  #title = el('span', { className: 'title' });
  #status = el('span', { className: 'status' });

  constructor(info, onSelect) {
    this.#button = el('button', { type: 'button', className: 'conversation-link', dataset: { id: info.id } }, this.#title, this.#status);
    this.#button.addEventListener('click', () => onSelect(info.id));
    this.element = el('li', {}, this.#button);
    this.update(info);
  }

  update(info) {
    setText(this.#title, info.title || info.id);
    this.#status.dataset.status = info.status;
    setText(this.#status, statusText(info.status, info.lastRunOutcome));
  }

  setCurrent(current) {
    setAttr(this.#button, 'aria-current', current && 'true');
  }
}

function statusText(status, outcome) {
  if (status === 'running') return 'running';
  if (status === 'waiting') return 'needs you';
  return outcome ?? 'idle';
}
