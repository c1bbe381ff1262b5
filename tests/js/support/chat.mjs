// useChat's engine without React: the AI SDK's own AbstractChat and DefaultChatTransport over a plain state, so
// the tests drive exactly what a page drives (send, resume, approvals, tool outputs), minus rendering.
import { AbstractChat, DefaultChatTransport } from 'ai';

class PlainChatState {
  status = 'ready';
  error = undefined;
  constructor(messages = []) {
    this.messages = messages;
  }
  pushMessage = (message) => { this.messages = this.messages.concat(message); };
  popMessage = () => { this.messages = this.messages.slice(0, -1); };
  replaceMessage = (index, message) => { this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)]; };
  snapshot = (value) => structuredClone(value);
}

export class NodeChat extends AbstractChat {
  constructor({ baseUrl, token, id, messages, onData, fetch: fetchImpl }) {
    super({
      id,
      state: new PlainChatState(messages),
      onData,
      transport: new DefaultChatTransport({ api: `${baseUrl}/api/ui/chat`, headers: { authorization: `Bearer ${token}` }, fetch: fetchImpl }),
    });
  }
}

/** The concatenated text parts of a UI message. */
export const textOf = (message) => (message?.parts ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');
