export { AgentClient, AgentError, AgentWatch, errorCode, newClientMessageId } from './client.js';
export { displayToolName, fold, initialState, reduce } from './reducer.js';
export { createConversationStore } from './store.js';
