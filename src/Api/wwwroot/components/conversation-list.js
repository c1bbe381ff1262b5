// The sidebar's list of conversations, most recently updated first. Entries are updated in place, keyed by id,
// so a refresh (a new conversation, a run that ends) leaves focus and the user's place in the list alone.
import { el, setAttr, setText } from './dom.js';
import { KeyedList } from './keyed-list.js';

export class ConversationList {
  #list;
  #entries = new Map(); // id -> { info, current } as last rendered, so an unchanged entry keeps its identity

  /** @param onSelect {(id: string) => void} */
  constructor(element, onSelect) {
    this.#list = new KeyedList(element, { keyOf: entry => entry.info.id, create: entry => new ConversationEntry(entry, onSelect) });
  }

  /** Shows `infos` (ConversationInfo objects), marking `currentId` as the one open. */
  render(infos, currentId) {
    const sorted = [...infos].sort((a, b) => (Date.parse(b.updatedAt) || 0) - (Date.parse(a.updatedAt) || 0));
    const entries = sorted.map(info => {
      const current = info.id === currentId;
      const last = this.#entries.get(info.id);
      return last?.info === info && last.current === current ? last : { info, current };
    });
    this.#entries = new Map(entries.map(entry => [entry.info.id, entry]));
    this.#list.render(entries);
  }

  clear() {
    this.#entries.clear();
    this.#list.dispose();
  }
}

class ConversationEntry {
  #button;
  #title = el('span', { className: 'title' });
  #status = el('span', { className: 'status' });

  constructor(entry, onSelect) {
    this.#button = el('button', { type: 'button', className: 'conversation-link', dataset: { id: entry.info.id } }, this.#title, this.#status);
    this.#button.addEventListener('click', () => onSelect(entry.info.id));
    this.element = el('li', {}, this.#button);
    this.update(entry);
  }

  update({ info, current }) {
    setAttr(this.#button, 'aria-current', current && 'true');
    setText(this.#title, info.title || info.id);
    this.#status.dataset.status = info.status;
    setText(this.#status, statusText(info.status, info.lastRunOutcome));
  }
}

function statusText(status, outcome) {
  if (status === 'running') return 'running';
  if (status === 'waiting') return 'needs you';
  return outcome ?? 'idle';
}
