// The timeline's messages: the user's as plain text, the agent's as sanitized markdown.
import { el, note, setAttr, setText } from './dom.js';
import { MarkdownView } from './markdown.js';

export class UserMessageView {
  #ctx;
  #text = el('div', { className: 'text' });
  #queuedNote = null;
  #edit = null;

  /** @param ctx {{ forkAndSend(afterSeq, text, button) }} */
  constructor(item, ctx) {
    this.#ctx = ctx;
    this.element = el('li', { className: 'message user' }, el('span', { className: 'author', textContent: 'You' }), this.#text);
    this.update(item);
  }

  update(item) {
    this.element.dataset.seq = String(item.seq);
    setText(this.#text, item.text);
    this.element.classList.toggle('queued', item.queued);
    if (item.queued && !this.#queuedNote) {
      this.#queuedNote = note('Queued: starts its own run when the one before it ends.');
      this.element.append(this.#queuedNote);
    } else if (!item.queued && this.#queuedNote) {
      this.#queuedNote.remove();
      this.#queuedNote = null;
    }

    // A message that started its run can be edited: a fork just before it, where no run is open, runs the new text.
    if (item.startsRun && !this.#edit) {
      this.#edit = this.#editButton(item);
      this.element.append(this.#edit);
    }
  }

  /** "Edit": a form in place of the button; saving forks just before the message and sends the edited text there. */
  #editButton(item) {
    const edit = el('button', {
      type: 'button',
      className: 'secondary edit',
      textContent: 'Edit',
      title: 'Edit this message and run it again in a new conversation forked before it',
    });
    edit.addEventListener('click', () => {
      const input = el('textarea', { id: `edit-${item.id}`, rows: 2, value: item.text });
      const save = el('button', { type: 'submit', textContent: 'Save and run' });
      const cancel = el('button', { type: 'button', className: 'secondary', textContent: 'Cancel' });
      const form = el('form', { className: 'edit-form' },
        el('label', { className: 'visually-hidden', htmlFor: input.id, textContent: 'Edited message' }), input, save, cancel);
      cancel.addEventListener('click', () => {
        form.replaceWith(edit);
        edit.focus();
      });
      form.addEventListener('submit', e => {
        e.preventDefault();
        const edited = input.value.trim();
        if (edited) {
          this.#ctx.forkAndSend(item.seq - 1, edited, save);
        }
      });
      edit.replaceWith(form);
      input.focus();
    });
    return edit;
  }
}

/** The agent's message; a sub-agent's too, shown under its parent's step, where its row already names it (author null). */
export class AssistantMessageView {
  #markdown;
  #interrupted = null;

  constructor(item, { author = 'Agent' } = {}) {
    const body = el('div', { className: 'text' });
    this.#markdown = new MarkdownView(body);
    this.element = el('li', { className: 'message assistant' }, author && el('span', { className: 'author', textContent: author }), body);
    this.update(item);
  }

  update(item) {
    // The list updates this view at most once a frame, so a streaming message is rendered at most once a frame.
    this.#markdown.render(item.text);

    this.element.classList.toggle('streaming', item.streaming);
    // Screen readers wait for the whole message instead of reading every token of it.
    setAttr(this.element, 'aria-busy', item.streaming && 'true');
    this.element.classList.toggle('interrupted', !!item.interrupted);
    if (item.interrupted && !this.#interrupted) {
      this.#interrupted = note(`Interrupted (${item.interrupted}).`);
      this.element.append(this.#interrupted);
    }
  }
}
