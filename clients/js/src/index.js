export { AgentClient, newClientMessageId } from './client.js';
export { AgentError, errorCode } from './errors.js';
export { AgentWatch } from './watch.js';
export { displayToolName, fold, initialState, reduce } from './reducer.js';
export { createConversationStore } from './store.js';
