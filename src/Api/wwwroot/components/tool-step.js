// A tool call as one step of the timeline: its state, arguments and result, the request it waits on (approval
// or question) and the sub-agents it started.
import { details, el, setText } from './dom.js';
import { KeyedList } from './keyed-list.js';
import { RequestCard } from './request-card.js';
import { errorText } from './steps.js';
import { SubagentRow } from './subagent-row.js';

export class ToolStepView {
  #ctx;
  #label = el('span', { className: 'label' });
  #arguments;
  #result = null;
  #request = null;
  #subagents = null;

  /** @param ctx {{ client, open(id), respond(answer) }} */
  constructor(item, ctx) {
    this.#ctx = ctx;
    this.#arguments = details('Arguments', item.arguments);
    this.element = el('li', { className: 'step tool', dataset: { tool: item.displayName, callId: item.callId } },
      this.#label, this.#arguments);
    this.update(item);
  }

  /** Where a keyboard user starts answering the call's request; null when there is none to answer. */
  get requestControl() {
    return this.#request?.firstControl ?? null;
  }

  update(item) {
    this.element.dataset.state = item.status;
    setText(this.#label, label(item));
    if (item.status === 'done' && !this.#result) {
      this.#result = details('Result', item.result);
      this.#arguments.after(this.#result);
    }

    if (item.request && !this.#request) {
      this.#request = new RequestCard(item, this.#ctx);
      this.element.append(this.#request.element);
    } else {
      this.#request?.update(item);
    }

    if (item.subagents.length > 0) {
      if (!this.#subagents) {
        const list = el('ul', { className: 'subagents' });
        this.element.append(list);
        this.#subagents = new KeyedList(list, { keyOf: child => child.childId, create: child => new SubagentRow(child, this.#ctx) });
      }

      this.#subagents.render(item.subagents);
    }
  }

  dispose() {
    this.#subagents?.dispose();
  }
}

function label(item) {
  const name = item.displayName;
  switch (item.status) {
    case 'waiting':
      return item.request?.kind === 'approval' ? `${name} waits for your approval` : `${name} waits for your answer`;
    case 'done':
      return `${name} ${summary(item.result)}`;
    case 'failed':
      return `${name} failed: ${errorText(item.error)}`;
    default:
      return `Calling ${name}`;
  }
}

// Generic on purpose: what a result means is the tool's business; the Result block under the label has it all.
function summary(result) {
  return Array.isArray(result) ? `returned ${result.length} result${result.length === 1 ? '' : 's'}` : 'done';
}
