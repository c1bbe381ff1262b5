// What the agent asks of the user during a tool call: an approval (with an optional remark the model is told)
// or a question. The card belongs to its tool step and is answered through the hub's Respond.
import { errorCode } from '@agents/client';
import { describe } from './notice.js';
import { details, el, note } from './dom.js';

export class RequestCard {
  #ctx;
  #form;
  #plan = null;
  #error = el('p', { className: 'error', attrs: { role: 'alert' } });
  #settled = false;

  /** @param ctx {{ respond(answer): Promise }} answer is { requestId, approved?, text? } */
  constructor(item, ctx) {
    this.#ctx = ctx;
    const { request } = item;
    const promptId = `prompt-${request.requestId}`;
    const approval = request.kind === 'approval';
    const prompt = el('p', { className: 'prompt', id: promptId, textContent: approval ? `Approve ${item.displayName}?` : request.prompt });
    this.#form = approval ? this.#approvalForm(request, promptId) : this.#questionForm(request, promptId);
    this.#plan = approval ? details('What it will do', item.arguments, true) : null;
    this.element = el('div', {
      className: 'request',
      dataset: { kind: request.kind, requestId: request.requestId },
      attrs: { role: 'group', 'aria-labelledby': promptId },
    }, prompt, this.#plan, this.#form, this.#error);
    this.update(item);
  }

  /** The control a keyboard user starts from: the remark or answer field. */
  get firstControl() {
    return this.#settled ? null : this.#form.elements[0];
  }

  update(item) {
    const { request } = item;
    if (this.#settled || !(request.answered || request.closed)) {
      return;
    }

    this.#settled = true;
    const hadFocus = this.#form.contains(document.activeElement);
    // Decided, the call's arguments are in its step's own Arguments: the card keeps only the decision.
    this.#plan?.remove();
    this.#form.remove();
    this.#error.textContent = '';
    this.element.classList.add('answered');
    const decision = note(outcome(request));
    this.element.append(decision);
    if (hadFocus) {
      // The button pressed is gone: the keyboard's place (and what a screen reader says next) is the decision.
      decision.tabIndex = -1;
      decision.focus({ preventScroll: true });
    }
  }

  #approvalForm(request, promptId) {
    const remark = el('input', { id: `remark-${request.requestId}`, name: 'remark', autocomplete: 'off', attrs: { 'aria-describedby': promptId } });
    const approve = el('button', { type: 'button', textContent: 'Approve' });
    const deny = el('button', { type: 'button', className: 'secondary', textContent: 'Deny' });
    const form = el('form', { className: 'answer' },
      el('label', { htmlFor: remark.id, textContent: 'Remark (optional)' }), remark, approve, deny);
    // Enter in the remark chooses nothing: approving or denying is always a button pressed on purpose.
    form.addEventListener('submit', e => e.preventDefault());
    const answer = approved => {
      const text = remark.value.trim();
      this.#submit({ requestId: request.requestId, approved, ...(text ? { text } : {}) });
    };
    approve.addEventListener('click', () => answer(true));
    deny.addEventListener('click', () => answer(false));
    return form;
  }

  #questionForm(request, promptId) {
    const input = el('input', { id: `answer-${request.requestId}`, required: true, autocomplete: 'off', attrs: { 'aria-describedby': promptId } });
    const form = el('form', { className: 'answer' },
      el('label', { className: 'visually-hidden', htmlFor: input.id, textContent: 'Your answer' }),
      input,
      el('button', { type: 'submit', textContent: 'Answer' }));
    form.addEventListener('submit', e => {
      e.preventDefault();
      const text = input.value.trim();
      if (text) {
        this.#submit({ requestId: request.requestId, text });
      }
    });
    return form;
  }

  async #submit(answer) {
    const controls = [...this.#form.elements];
    for (const control of controls) {
      control.disabled = true;
    }

    this.#error.textContent = '';
    try {
      // The card shows the answer when input.received comes back through the watch, not before.
      await this.#ctx.respond(answer);
    } catch (error) {
      if (errorCode(error) === 'conflict') {
        this.#error.textContent = 'This request was already answered, or its run has ended.';
        return;
      }

      this.#error.textContent = describe(error);
      for (const control of controls) {
        control.disabled = false;
      }
    }
  }
}

function outcome(request) {
  if (!request.answered) {
    return 'No longer needed: the run went on without it.';
  }

  const remark = request.text ? `: “${request.text}”` : '';
  if (request.approved === true) return `Approved${remark}`;
  if (request.approved === false) return `Denied${remark}`;
  return `Answered: ${request.text ?? ''}`;
}
