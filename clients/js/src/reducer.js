// The conversation as a page shows it, folded from the log's events. Pure and immutable: reduce returns a new state
// that shares every item the event did not touch, so a view can skip what kept its identity. Where the server's fold
// (ConversationState.Apply) decides something a page shows — the status, the open requests, a run's usage — this
// decides it the same way; test/reducer.test.mjs checks it against the server's fold of recorded histories.

const TERMINAL = { 'run.completed': 'completed', 'run.failed': 'failed', 'run.cancelled': 'cancelled' };

// The events that close a model call and may carry its usage (the server's IModelCallUsage).
const MODEL_CALL_EVENTS = new Set(['message.assistant', 'message.interrupted', 'tool.call']);

// The status depends on the active run and on its calls' states and requests: only these events change those, so
// only they pay for the scan of the items (a streamed delta, the commonest event, does not).
const STATUS_EVENTS = new Set(['run.started', 'tool.call', 'input.requested', 'input.received', 'tool.result', ...Object.keys(TERMINAL)]);

/** The state before the first event. */
export function initialState(conversationId = null) {
  return {
    conversationId,
    lastSeq: 0,
    status: 'idle',
    activeRunId: null,
    lastRunOutcome: null,
    items: [],
    openRequests: [],
    runs: [],
    queued: [],
  };
}

/** A tool's name without its plugin prefix, as the server's ToolNames.Display: 'Demo-make_reservation' -> 'make_reservation'. */
export function displayToolName(name) {
  return name.slice(name.lastIndexOf('-') + 1);
}

/** The state after one more event; an event at or before state.lastSeq (a repeat) returns state itself. */
export function reduce(state, envelope) {
  if (envelope.seq <= state.lastSeq) {
    return state;
  }

  const next = { ...state, lastSeq: envelope.seq, conversationId: state.conversationId ?? envelope.conversationId };
  const handler = HANDLERS[envelope.type];
  // As the server's fold: what belongs to a run means nothing outside one.
  if (handler && (handler.outsideRun || next.activeRunId !== null)) {
    if (next.activeRunId !== null && MODEL_CALL_EVENTS.has(envelope.type) && envelope.data.usage) {
      addRunUsage(next, envelope.data.usage);
    }

    handler(next, envelope);
    if (STATUS_EVENTS.has(envelope.type)) {
      next.status = statusOf(next);
    }
  }

  return next;
}

/** Folds events into a state (the initial one by default). */
export function fold(envelopes, state = initialState()) {
  return envelopes.reduce(reduce, state);
}

const HANDLERS = {
  'message.user'(s, e) {
    const { messageId, text, queued = false } = e.data;
    append(s, { kind: 'user', id: messageId, seq: e.seq, runId: e.runId ?? null, messageId, text, queued: Boolean(queued), startsRun: false });
    if (queued) {
      s.queued = [...s.queued, { messageId, seq: e.seq, text }];
    }
  },

  'run.started'(s, e) {
    if (s.queued.length > 0) {
      // The run is the oldest queued message's: the log starts it with the end of the run before.
      const [first, ...rest] = s.queued;
      s.queued = rest;
      update(s, first.messageId, item => ({ ...item, queued: false, runId: e.runId }));
    } else {
      const last = s.items.at(-1);
      if (last?.kind === 'user' && last.seq === e.seq - 1 && last.runId === e.runId) {
        // Forking just before this message and sending it again re-runs it: the page's "edit".
        update(s, last.id, item => ({ ...item, startsRun: true }));
      }
    }

    s.activeRunId = e.runId;
    s.runs = [...s.runs, { runId: e.runId, startedAt: e.at, endedAt: null, outcome: null, usage: null, error: null }];
  },

  'message.delta'(s, e) {
    const { messageId, text } = e.data;
    const item = find(s, messageId);
    if (item?.kind === 'assistant' && item.streaming) {
      update(s, messageId, open => ({ ...open, text: open.text + text }));
    } else if (!item) {
      // One message streams at a time: a new one means the one before will not go on.
      closeStreaming(s);
      append(s, assistantItem(e, true));
    }
  },

  'message.assistant'(s, e) {
    const { messageId, text } = e.data;
    closeStreaming(s, messageId);
    if (find(s, messageId)) {
      update(s, messageId, item => ({ ...item, text, streaming: false }));
    } else {
      append(s, assistantItem(e, false));
    }
  },

  'message.interrupted'(s, e) {
    const { messageId, reason } = e.data;
    closeStreaming(s, messageId);
    if (find(s, messageId)) {
      update(s, messageId, item => ({ ...item, streaming: false, interrupted: reason }));
    }
  },

  progress(s, e) {
    append(s, { kind: 'progress', id: `seq:${e.seq}`, seq: e.seq, runId: e.runId, text: e.data.text });
  },

  'tool.call'(s, e) {
    const { callId, name, arguments: args } = e.data;
    append(s, {
      kind: 'tool', id: callId, seq: e.seq, runId: e.runId, callId, name, displayName: displayToolName(name), arguments: args,
      status: 'running', result: null, error: null, request: null, subagents: [],
    });
  },

  'input.requested'(s, e) {
    const { requestId, kind, prompt, callId, name, arguments: args } = e.data;
    const call = find(s, callId);
    if (!isPending(call)) {
      return;
    }

    update(s, callId, item => ({
      ...item,
      status: 'waiting',
      request: { requestId, kind, prompt, answered: false, approved: null, text: null, closed: false },
    }));
    s.openRequests = [...s.openRequests, { requestId, callId, kind, name, displayName: displayToolName(name), prompt, arguments: args, seq: e.seq }];
  },

  'input.received'(s, e) {
    const { requestId, approved = null, text = null } = e.data;
    const call = s.items.findLast(item => item.kind === 'tool' && item.request?.requestId === requestId);
    if (!call) {
      return;
    }

    update(s, call.id, item => ({
      ...item,
      status: item.status === 'waiting' ? 'running' : item.status,
      request: { ...item.request, answered: true, approved, text, closed: true },
    }));
    s.openRequests = s.openRequests.filter(request => request.requestId !== requestId);
  },

  'subagent.started'(s, e) {
    const { callId, childId, title } = e.data;
    if (isPending(find(s, callId))) {
      update(s, callId, item => ({ ...item, subagents: [...item.subagents, { childId, title, outcome: null, text: null, error: null }] }));
    }
  },

  'subagent.ended'(s, e) {
    const { callId, childId, outcome, text = null, error = null } = e.data;
    if (isPending(find(s, callId))) {
      update(s, callId, item => ({
        ...item,
        subagents: item.subagents.map(child => (child.childId === childId ? { ...child, outcome, text, error } : child)),
      }));
    }
  },

  'tool.result'(s, e) {
    const { callId, result = null, error = null } = e.data;
    if (!isPending(find(s, callId))) {
      return;
    }

    update(s, callId, item => ({
      ...item,
      status: error ? 'failed' : 'done',
      result,
      error,
      request: item.request && { ...item.request, closed: true },
    }));
    s.openRequests = s.openRequests.filter(request => request.callId !== callId);
  },

  'run.resumed'(s, e) {
    append(s, runItem(e, 'resumed', { reason: e.data.reason ?? null }));
  },

  'run.completed': endRun,
  'run.failed': endRun,
  'run.cancelled': endRun,
};

HANDLERS['message.user'].outsideRun = true;
HANDLERS['run.started'].outsideRun = true;
HANDLERS.progress.outsideRun = true;

function endRun(s, e) {
  const outcome = TERMINAL[e.type];
  const runId = s.activeRunId;
  const summary = s.runs.at(-1);
  // The terminal event's usage is the run's sum; without one, the sum of what its calls reported.
  const usage = e.data.usage ?? summary?.usage ?? null;
  const error = e.data.error ?? null;
  if (summary?.runId === runId) {
    s.runs = [...s.runs.slice(0, -1), { ...summary, endedAt: e.at, outcome, usage, error }];
  }

  // Whatever the run left open is over: a streaming message ends, a request can no longer be answered.
  closeStreaming(s);
  for (const item of s.items) {
    if (item.kind === 'tool' && item.runId === runId && item.request && !item.request.closed) {
      update(s, item.id, open => ({ ...open, request: { ...open.request, closed: true } }));
    }
  }

  append(s, runItem(e, outcome, { error, usage }));
  s.activeRunId = null;
  s.lastRunOutcome = outcome;
  s.openRequests = [];
}

function assistantItem(e, streaming) {
  const { messageId, text } = e.data;
  return { kind: 'assistant', id: messageId, seq: e.seq, runId: e.runId, messageId, text, streaming, interrupted: null };
}

function runItem(e, event, { reason = null, error = null, usage = null }) {
  return { kind: 'run', id: `seq:${e.seq}`, seq: e.seq, runId: e.runId, event, reason, error, usage };
}

// The server's rule: waiting when the first call still to be settled waits for an answer.
function statusOf(s) {
  if (s.activeRunId === null) {
    return 'idle';
  }

  const first = s.items.find(item => item.kind === 'tool' && item.runId === s.activeRunId && isPending(item));
  return first?.request && !first.request.answered ? 'waiting' : 'running';
}

function isPending(item) {
  return item?.kind === 'tool' && (item.status === 'running' || item.status === 'waiting');
}

function addRunUsage(s, used) {
  const summary = s.runs.at(-1);
  if (summary?.runId !== s.activeRunId) {
    return;
  }

  const usage = summary.usage
    ? { inputTokens: summary.usage.inputTokens + used.inputTokens, outputTokens: summary.usage.outputTokens + used.outputTokens }
    : { inputTokens: used.inputTokens, outputTokens: used.outputTokens };
  s.runs = [...s.runs.slice(0, -1), { ...summary, usage }];
}

function closeStreaming(s, exceptId) {
  const open = s.items.findLast(item => item.kind === 'assistant' && item.streaming);
  if (open && open.id !== exceptId) {
    update(s, open.id, item => ({ ...item, streaming: false }));
  }
}

function find(s, id) {
  return s.items.findLast(item => item.id === id);
}

function append(s, item) {
  s.items = [...s.items, item];
}

function update(s, id, change) {
  const index = s.items.findLastIndex(item => item.id === id);
  const items = s.items.slice();
  items[index] = change(items[index]);
  s.items = items;
}
