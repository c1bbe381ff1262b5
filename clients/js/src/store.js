import { initialState, reduce } from './reducer.js';

/**
 * A conversation kept up to date: watches it with `client` and folds each event into a ConversationState.
 * Framework-free; getState and subscribe fit React's useSyncExternalStore as they are.
 * @param {import('./client.js').AgentClient} client
 * @param {string} conversationId
 * @param {{ afterSeq?: number, onError?: (error: import('./errors.js').AgentError, willRetry: boolean) => void }} [options]
 */
export function createConversationStore(client, conversationId, { afterSeq = 0, onError } = {}) {
  let state = initialState(conversationId);
  const listeners = new Set();
  const watch = client.watch(conversationId, afterSeq, event => {
    const next = reduce(state, event);
    if (next === state) {
      return;
    }

    state = next;
    for (const listener of [...listeners]) {
      listener(state);
    }
  }, { onError });

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => watch.stop(),
  };
}
