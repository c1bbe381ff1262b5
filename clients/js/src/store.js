import { initialState, reduce } from './reducer.js';

/**
 * A conversation kept up to date: watches it with `client` and folds each event into a ConversationState.
 * Framework-free; getState and subscribe fit React's useSyncExternalStore as they are.
 * @param {import('./client.js').AgentClient} client
 * @param {string} conversationId
 * @param {object} [options]
 * @param {object} [options.state] a state folded before (by a store that gave up, say) to go on from: the watch
 *   starts after its lastSeq. The whole log, from initialState(conversationId), by default.
 * @param {number} [options.giveUpAfterMs] the watch's (AgentClient.watch).
 * @param {(error: import('./errors.js').AgentError, willRetry: boolean) => void} [options.onError] the watch's.
 */
export function createConversationStore(client, conversationId, { state: from = initialState(conversationId), giveUpAfterMs, onError } = {}) {
  let state = from;
  const listeners = new Set();
  // Folding goes on from the state's own lastSeq: any other cursor would skip events or fold some twice.
  const watch = client.watch(conversationId, state.lastSeq, event => {
    const next = reduce(state, event);
    if (next === state) {
      return;
    }

    state = next;
    for (const listener of [...listeners]) {
      listener(state);
    }
  }, { giveUpAfterMs, onError });

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => watch.stop(),
  };
}
