// A conversation's state, kept up to date for as long as the page shows it.
import { createConversationStore } from '@agents/client';
import { oncePerFrame } from './dom.js';

/**
 * Folds the conversation's log with the package's store and calls `onChange(state)` with the latest state at most
 * once a frame, however many events came in between. The watch never gives up: the client reconnects forever, and
 * the page waits for it as long. `onLost(error)` is told when the conversation cannot be shown at all (not_found,
 * invalid_argument). Returns { stop() }; nothing is called after it.
 */
export function watchConversation(client, conversationId, { onChange, onLost }) {
  let stopped = false;
  const store = createConversationStore(client, conversationId, {
    giveUpAfterMs: Infinity,
    onError: (error, willRetry) => {
      if (!willRetry) {
        onLost(error);
      }
    },
  });
  store.subscribe(oncePerFrame(() => {
    if (!stopped) {
      onChange(store.getState());
    }
  }));
  return {
    stop() {
      stopped = true;
      store.stop();
    },
  };
}
