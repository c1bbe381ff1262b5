// What the page tells the user outside a conversation: errors (the notice) and the connection's state.
import { errorCode } from '@agents/client';

/** An error as the user reads it: SignalR wraps hub errors ("… HubException: not_found: …"), so from the code on. */
export function describe(error) {
  const text = String(error?.message ?? error);
  const code = errorCode(error);
  const at = code ? text.indexOf(`${code}:`) : -1;
  return at >= 0 ? text.slice(at) : text;
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
