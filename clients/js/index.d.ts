// Types of @agents/client, written by hand beside the JavaScript sources (src/) and checked by `npm run typecheck`.
import type { HubConnectionBuilder, HubConnectionState, LogLevel } from '@microsoft/signalr';

// ---- The wire contract (docs/protocol.md) ----

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type ErrorCode = 'invalid_argument' | 'not_found' | 'conflict' | 'rate_limited' | 'too_large' | 'unavailable';
export type ConversationStatus = 'idle' | 'running' | 'waiting';
export type RunOutcome = 'completed' | 'failed' | 'cancelled';
export type SendMode = 'steer' | 'queue' | 'interrupt' | 'reject';
export type InputKind = 'approval' | 'question';
/** Why a streamed message stopped: 'restart', 'model_error', 'superseded' (a send with mode interrupt) or 'cancelled'. */
export type InterruptReason = 'restart' | 'model_error' | 'superseded' | 'cancelled' | (string & {});

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** An error as the log records it: a stable code ('budget_exceeded', 'denied', ...) and a human message. */
export interface ErrorInfo {
  code: string;
  message: string;
}

export interface ConversationInfo {
  id: string;
  title: string;
  status: ConversationStatus;
  createdAt: string;
  updatedAt: string;
  lastSeq: number;
  lastRunOutcome: RunOutcome | null;
  /** The conversation this one is a sub-agent of; null at the top. */
  parentId: string | null;
  forkedFrom: { conversationId: string; afterSeq: number } | null;
}

export interface UserUsage {
  today: TokenUsage;
  /** The daily budget (Agent:MaxTokensPerUserPerDay); null when there is none. */
  limit: number | null;
  resetsAt: string;
}

interface Envelope<Type extends string, Data> {
  seq: number;
  conversationId: string;
  runId: string | null;
  type: Type;
  /** ISO 8601 time the event was stored. */
  at: string;
  data: Data;
}

export type EventEnvelope =
  | Envelope<'message.user', { messageId: string; text: string; clientMessageId?: string; queued?: boolean }>
  | Envelope<'run.started', Record<string, never>>
  | Envelope<'message.delta', { messageId: string; text: string }>
  | Envelope<'message.assistant', { messageId: string; text: string; usage?: TokenUsage }>
  | Envelope<'message.interrupted', { messageId: string; reason: InterruptReason; usage?: TokenUsage }>
  | Envelope<'progress', { text: string }>
  | Envelope<'tool.call', { callId: string; name: string; arguments: JsonObject; usage?: TokenUsage }>
  | Envelope<'tool.result', { callId: string; name: string; result?: JsonValue; error?: ErrorInfo }>
  | Envelope<'input.requested', { requestId: string; kind: InputKind; prompt: string; callId: string; name: string; arguments: JsonObject }>
  | Envelope<'input.received', { requestId: string; approved?: boolean; text?: string }>
  | Envelope<'subagent.started', { callId: string; childId: string; title: string }>
  | Envelope<'subagent.ended', { callId: string; childId: string; outcome: RunOutcome; text?: string; error?: ErrorInfo }>
  | Envelope<'run.resumed', { reason: string }>
  | Envelope<'run.completed', { usage?: TokenUsage }>
  | Envelope<'run.failed', { error: ErrorInfo; usage?: TokenUsage }>
  | Envelope<'run.cancelled', { usage?: TokenUsage }>;

export type EventType = EventEnvelope['type'];

// ---- The client ----

/** The contract's code in an error (an AgentError or one straight from SignalR), or null when it has none. */
export function errorCode(error: unknown): ErrorCode | null;

/** A new client message id (a UUID where crypto.randomUUID exists, else a random string), so that a resent message is stored once. */
export function newClientMessageId(): string;

/** What every call rejects with. Its message starts at the code: "not_found: ...". */
export class AgentError extends Error {
  constructor(code: ErrorCode | null, message: string, options?: { cause?: unknown });
  /** The contract's code; null for a failure it does not name (e.g. a server bug). */
  readonly code: ErrorCode | null;
  /** For rate_limited: how long to wait before trying again. */
  readonly retryAfterMs?: number;
  /** The AgentError an error from SignalR stands for; fallbackCode when its message carries no code. */
  static from(error: unknown, fallbackCode?: ErrorCode | null): AgentError;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** What AgentClient needs of @microsoft/signalr (the module, or the global of signalr.min.js). */
export interface SignalRModule {
  HubConnectionBuilder: typeof HubConnectionBuilder;
  HubConnectionState: typeof HubConnectionState;
  LogLevel: typeof LogLevel;
}

export interface AgentClientOptions {
  /** The bearer token; asked on every (re)connect. */
  accessTokenFactory: () => string | Promise<string>;
  /** Defaults to '/hubs/agent'; absolute in node. */
  hubUrl?: string;
  /** Defaults to globalThis.signalR (signalr.min.js); in node pass `import * as signalR from '@microsoft/signalr'`. */
  signalR?: SignalRModule;
  /** Defaults to LogLevel.Warning. */
  logLevel?: LogLevel;
  /** How long a call waits for the connection before it rejects with unavailable; 30000 by default. */
  connectTimeoutMs?: number;
}

export interface CreateOptions {
  title?: string;
  /** The first message: a run starts. */
  text?: string;
  /** Stored with the first message as given; none is made, since create is never repeated. */
  clientMessageId?: string;
}

export interface SendOptions {
  /** Makes the send idempotent; one is made when left out. */
  clientMessageId?: string;
  /** What a message sent during a run does; 'steer' by default. */
  mode?: SendMode;
}

export interface RespondOptions {
  requestId: string;
  /** For an approval. */
  approved?: boolean;
  /** The answer to a question, or a remark with an approval. */
  text?: string;
}

export interface WatchOptions {
  /** Told of each lost stream; willRetry false when the watch has ended (not_found, invalid_argument, or giving up). */
  onError?: (error: AgentError, willRetry: boolean) => void;
  /**
   * How long to keep trying after a failure (a lost connection, a stream error) without delivering an event before
   * ending with unavailable; 60000 by default, Infinity for never. An open stream with nothing new is not a failure.
   */
  giveUpAfterMs?: number;
}

/** A running watch (AgentClient.watch): every event once, in order, across reconnects. */
export class AgentWatch {
  private constructor();
  readonly conversationId: string;
  /** The seq of the last event delivered. */
  readonly lastSeq: number;
  readonly stopped: boolean;
  stop(): void;
}

export class AgentClient {
  constructor(options: AgentClientOptions);
  readonly state: ConnectionState;
  on(name: 'state', handler: (state: ConnectionState, error?: unknown) => void): () => void;
  /** Another tab (or this one) of the same user created a conversation. */
  on(name: 'conversationCreated', handler: (info: ConversationInfo) => void): () => void;
  /** Connects, retrying with backoff until it succeeds or stop() is called. */
  start(): Promise<void>;
  /** Disconnects for good: watches end. */
  stop(): Promise<void>;
  /** Not retried: a repeat would make a second conversation. */
  create(options?: CreateOptions): Promise<ConversationInfo>;
  list(): Promise<ConversationInfo[]>;
  get(conversationId: string): Promise<ConversationInfo>;
  listChildren(conversationId: string): Promise<ConversationInfo[]>;
  send(conversationId: string, text: string, options?: SendOptions): Promise<{ seq: number }>;
  /** { seq: null } when a repeat after a lost reply found the request already answered. */
  respond(conversationId: string, answer: RespondOptions): Promise<{ seq: number | null }>;
  cancel(conversationId: string): Promise<void>;
  /** Not retried: a repeat would make a second fork. */
  fork(conversationId: string, afterSeq: number): Promise<ConversationInfo>;
  delete(conversationId: string): Promise<void>;
  getUsage(): Promise<UserUsage>;
  watch(conversationId: string, afterSeq: number, onEvent: (event: EventEnvelope) => void, options?: WatchOptions): AgentWatch;
}

// ---- The reducer ----

export interface UserItem {
  kind: 'user';
  id: string;
  seq: number;
  runId: string | null;
  messageId: string;
  text: string;
  /** Sent with mode 'queue' and not started yet. */
  queued: boolean;
  /** Followed directly by its run's run.started: forking at seq - 1 and sending it again edits it. */
  startsRun: boolean;
}

export interface AssistantItem {
  kind: 'assistant';
  id: string;
  seq: number;
  runId: string | null;
  messageId: string;
  text: string;
  streaming: boolean;
  /** Why it stopped short; null for a whole message. */
  interrupted: InterruptReason | null;
}

export interface ProgressItem {
  kind: 'progress';
  id: string;
  seq: number;
  runId: string | null;
  text: string;
}

export interface ToolRequest {
  requestId: string;
  kind: InputKind;
  prompt: string;
  answered: boolean;
  approved: boolean | null;
  text: string | null;
  /** Answered, settled, or its run ended: answering it now is a conflict. */
  closed: boolean;
}

export interface Subagent {
  childId: string;
  title: string;
  outcome: RunOutcome | null;
  text: string | null;
  error: ErrorInfo | null;
}

export interface ToolItem {
  kind: 'tool';
  id: string;
  seq: number;
  runId: string | null;
  callId: string;
  /** As the model sees it, with its plugin prefix. */
  name: string;
  /** Without the prefix. */
  displayName: string;
  arguments: JsonObject;
  status: 'running' | 'waiting' | 'done' | 'failed';
  result: JsonValue;
  error: ErrorInfo | null;
  request: ToolRequest | null;
  subagents: Subagent[];
}

export interface RunItem {
  kind: 'run';
  id: string;
  seq: number;
  runId: string | null;
  event: 'resumed' | RunOutcome;
  /** For 'resumed'. */
  reason: string | null;
  /** For 'failed'. */
  error: ErrorInfo | null;
  /** For an ended run: its tokens, when any were reported. */
  usage: TokenUsage | null;
}

/** One entry of the timeline; `id` is a stable key (messageId, callId, or `seq:<n>`). */
export type Item = UserItem | AssistantItem | ProgressItem | ToolItem | RunItem;

export interface OpenRequest {
  requestId: string;
  callId: string;
  kind: InputKind;
  name: string;
  displayName: string;
  prompt: string;
  arguments: JsonObject;
  seq: number;
}

export interface RunSummary {
  runId: string;
  startedAt: string;
  endedAt: string | null;
  outcome: RunOutcome | null;
  /** The tokens reported so far; at the end, the run's total. */
  usage: TokenUsage | null;
  error: ErrorInfo | null;
}

export interface QueuedMessage {
  messageId: string;
  seq: number;
  text: string;
}

export interface ConversationState {
  readonly conversationId: string | null;
  readonly lastSeq: number;
  /** As the server's: waiting when the first call still to be settled waits for an answer. */
  readonly status: ConversationStatus;
  readonly activeRunId: string | null;
  readonly lastRunOutcome: RunOutcome | null;
  /** The timeline, in log order. */
  readonly items: readonly Item[];
  /** Unanswered input requests of the active run, in order. */
  readonly openRequests: readonly OpenRequest[];
  readonly runs: readonly RunSummary[];
  /** Queued user messages not started yet. */
  readonly queued: readonly QueuedMessage[];
}

export function initialState(conversationId?: string | null): ConversationState;
/** The state after one more event; an event at or before state.lastSeq returns state itself. */
export function reduce(state: ConversationState, envelope: EventEnvelope): ConversationState;
export function fold(envelopes: readonly EventEnvelope[], state?: ConversationState): ConversationState;
/** What follows the last '-': 'Demo-make_reservation' -> 'make_reservation'. */
export function displayToolName(name: string): string;

// ---- The store ----

export interface ConversationStore {
  getState(): ConversationState;
  /** Called after each event with the new state; returns the unsubscribe. */
  subscribe(listener: (state: ConversationState) => void): () => void;
  stop(): void;
}

export interface ConversationStoreOptions {
  /** A state folded before to go on from: the watch starts after its lastSeq. initialState(conversationId) by default. */
  state?: ConversationState;
  /** The watch's (WatchOptions). */
  giveUpAfterMs?: number;
  onError?: (error: AgentError, willRetry: boolean) => void;
}

/** Watches the conversation with the client and folds each event; fits React's useSyncExternalStore. */
export function createConversationStore(client: AgentClient, conversationId: string, options?: ConversationStoreOptions): ConversationStore;
