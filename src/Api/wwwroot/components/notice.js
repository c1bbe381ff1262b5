// What the page tells the user outside a conversation: errors (the notice) and the connection's state.
import { AgentError } from '@agents/client';

/** An error as the user reads it: an AgentError's message starts at the code, past SignalR's wrapping. */
export function describe(error) {
  return AgentError.from(error).message;
}

export class Notice {
  #element;

  constructor(element) {
    this.#element = element;
  }

  /** Shows a message (role=alert announces it); an empty one hides the notice. */
  show(message) {
    this.#element.textContent = message;
    this.#element.hidden = !message;
  }

  clear() {
    this.show('');
  }
}

const CONNECTION_TEXT = {
  connected: 'Connected',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  disconnected: 'Offline',
};

export function showConnection(element, state) {
  element.dataset.state = state;
  element.textContent = CONNECTION_TEXT[state] ?? state;
}
