// Not run: compiled by `npm run typecheck` to prove that index.d.ts describes a real use of every API, and that it
// refuses wrong ones (each @ts-expect-error fails the check if the line below it compiles).
import * as signalR from '@microsoft/signalr';
import {
  AgentClient, AgentError, AgentWatch, createConversationStore, displayToolName, errorCode, fold, initialState,
  newClientMessageId, reduce,
  type ConversationInfo, type ConversationState, type ErrorCode, type EventEnvelope, type Item,
} from '@agents/client';

export async function everything(token: string): Promise<void> {
  const client = new AgentClient({ accessTokenFactory: async () => token, hubUrl: 'http://localhost:5000/hubs/agent', signalR, logLevel: signalR.LogLevel.Error, connectTimeoutMs: 10_000 });
  const offState = client.on('state', (state, error) => console.log(state.toUpperCase(), error));
  const offCreated = client.on('conversationCreated', (info: ConversationInfo) => console.log(info.id, info.parentId));
  await client.start();

  const info = await client.create({ title: 'Dinner', text: 'Order dinner', clientMessageId: newClientMessageId() });
  const { seq } = await client.send(info.id, 'for two', { mode: 'queue' });
  const answered = await client.respond(info.id, { requestId: 'q_1', approved: true, text: 'by the window' });
  const maybeSeq: number | null = answered.seq;
  await client.cancel(info.id);
  const fork = await client.fork(info.id, seq - 1);
  const all: ConversationInfo[] = [...(await client.list()), ...(await client.listChildren(info.id)), await client.get(fork.id)];
  const usage = await client.getUsage();
  const left: number | null = usage.limit === null ? null : usage.limit - usage.today.inputTokens - usage.today.outputTokens;
  await client.delete(fork.id);

  const watch: AgentWatch = client.watch(info.id, 0, (event: EventEnvelope) => {
    // The union narrows on type.
    if (event.type === 'tool.call') {
      console.log(event.data.callId, displayToolName(event.data.name), event.data.arguments);
    } else if (event.type === 'run.failed') {
      console.log(event.data.error.code, event.data.usage?.inputTokens);
    }
  }, { giveUpAfterMs: 30_000, onError: (error, willRetry) => console.log(error.code, error.retryAfterMs, willRetry) });
  console.log(watch.conversationId, watch.lastSeq, watch.stopped, maybeSeq, all.length, left);
  watch.stop();

  const store = createConversationStore(client, info.id, { state: initialState(info.id), giveUpAfterMs: Infinity, onError: error => console.log(error.message) });
  const unsubscribe = store.subscribe((state: ConversationState) => console.log(state.status, state.items.length));
  const state = store.getState();
  for (const item of state.items) {
    console.log(describe(item));
  }
  for (const request of state.openRequests) {
    await client.respond(info.id, request.kind === 'approval' ? { requestId: request.requestId, approved: true } : { requestId: request.requestId, text: 'Lisbon' });
  }
  unsubscribe();
  store.stop();
  offState();
  offCreated();

  try {
    await client.get('nope');
  } catch (error) {
    const code: ErrorCode | null = errorCode(error);
    if (error instanceof AgentError && error.code === 'rate_limited') {
      console.log(error.retryAfterMs ?? 1000, code);
    }
  }
  await client.stop();
}

/** The Item union narrows on kind: each branch sees only its own fields. */
function describe(item: Item): string {
  switch (item.kind) {
    case 'user': return `${item.text}${item.queued ? ' (queued)' : ''}${item.startsRun ? ' (editable)' : ''}`;
    case 'assistant': return item.streaming ? `${item.text}...` : item.interrupted ? `${item.text} [${item.interrupted}]` : item.text;
    case 'progress': return item.text;
    case 'tool': return `${item.displayName} ${item.status} ${item.request?.prompt ?? ''} ${item.subagents.map(s => s.outcome).join()}`;
    case 'run': return `${item.event} ${item.error?.code ?? ''} ${item.usage?.outputTokens ?? ''}`;
  }
}

export function folds(events: EventEnvelope[]): ConversationState {
  const state = fold(events.slice(0, 3), initialState('c_1'));
  return events[3] ? reduce(state, events[3]) : state;
}

export function wrongUses(client: AgentClient, item: Item, state: ConversationState): void {
  // @ts-expect-error mode is one of steer, queue, interrupt, reject
  void client.send('c_1', 'hi', { mode: 'shout' });
  // @ts-expect-error an assistant message has no callId
  if (item.kind === 'assistant') console.log(item.callId);
  // @ts-expect-error the state is read-only: a new one comes from reduce
  state.status = 'idle';
  // @ts-expect-error only 'state' and 'conversationCreated' are emitted
  client.on('message', () => {});
  // @ts-expect-error a watch is made by AgentClient.watch
  new AgentWatch();
  // @ts-expect-error a store goes on from a state, not from a seq
  createConversationStore(client, 'c_1', { afterSeq: 3 });
}
