// A conversation's state, kept up to date for as long as the page shows it.
import { createConversationStore, errorCode } from '@agents/client';

/**
 * Folds the conversation's log with the package's store and calls `onChange(state)` after each event. The store's watch gives up (unavailable) after a minute without
 * progress, e.g. while the network is down, but the client reconnects forever: so this watches again, from the
 * start, with a fresh store that is not shown until it has caught up with the one it replaces. Item ids stay the
 * same, so the views keyed by them are updated, not rebuilt. `onLost(error)` is told when the conversation cannot
 * be shown at all (not_found, invalid_argument). Returns { stop() }.
 */
export function watchConversation(client, conversationId, { onChange, onLost }) {
  let store = null;
  let stopped = false;
  let shownSeq = 0;
  const watch = () => {
    const current = createConversationStore(client, conversationId, {
      onError: (error, willRetry) => {
        if (willRetry || stopped || store !== current) {
          return;
        }

        current.stop();
        if (errorCode(error) === 'unavailable') {
          watch();
        } else {
          onLost(error);
        }
      },
    });
    current.subscribe(state => {
      if (state.lastSeq >= shownSeq) {
        shownSeq = state.lastSeq;
        onChange(state);
      }
    });
    store = current;
  };

  watch();
  return {
    stop() {
      stopped = true;
      store.stop();
    },
  };
}
