// The page: a thin view over agent-client.js. Everything shown comes from the conversation's events;
// user and model text is only ever set as textContent, never parsed as HTML.
import { AgentClient, errorCode, newClientMessageId } from './agent-client.js';

const USER_KEY = 'agents.user';
const $ = id => document.getElementById(id);

const ui = {
  who: $('who'),
  user: $('user'),
  signIn: $('sign-in'),
  connection: $('connection'),
  notice: $('notice'),
  app: $('app'),
  signedOut: $('signed-out'),
  newConversation: $('new-conversation'),
  newText: $('new-text'),
  list: $('conversation-list'),
  empty: $('empty'),
  conversation: $('conversation'),
  title: $('conversation-title'),
  runStatus: $('run-status'),
  cancel: $('cancel'),
  timeline: $('timeline'),
  composer: $('composer'),
  message: $('message'),
  sendQueue: $('send-queue'),
  sendInterrupt: $('send-interrupt'),
};

let client = null;
let current = null; // { id, watch, view }
const conversations = new Map(); // id -> info

// ---- Identity ---------------------------------------------------------------------------------------------

async function fetchDevToken(user) {
  const response = await fetch('/api/dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (response.status === 404) {
    throw new Error('This server hands out no development tokens (Auth:DevTokens is off).');
  }

  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail ?? `Could not get a token (${response.status}).`);
  }

  return (await response.json()).token;
}

async function signIn(user) {
  localStorage.setItem(USER_KEY, user);
  ui.user.value = user;
  ui.signIn.textContent = 'Switch user';
  if (client) {
    current?.watch.stop();
    current = null;
    await client.stop();
  }

  // A fresh development token on every (re)connect: it survives a server restart with a new signing key.
  client = new AgentClient({ accessTokenFactory: () => fetchDevToken(user) });
  client.on('state', state => showConnection(state));
  client.on('conversationCreated', info => upsertConversation(info));
  ui.signedOut.hidden = true;
  ui.app.hidden = false;
  conversations.clear();
  ui.list.replaceChildren();
  await client.start();
  await refreshList();
  const id = decodeURIComponent(location.hash.slice(1));
  if (id) {
    select(id);
  } else {
    showConversation(null);
  }
}

function showConnection(state) {
  ui.connection.dataset.state = state;
  ui.connection.textContent = {
    connected: 'Connected',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    disconnected: 'Offline',
  }[state] ?? state;
}

function notify(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = !message;
}

function describe(error) {
  const text = String(error?.message ?? error);
  const code = errorCode(error);
  // SignalR wraps hub errors ("… HubException: not_found: …"): show the part from the code on.
  return code ? text.slice(text.indexOf(`${code}:`)) : text;
}

// ---- Conversation list ------------------------------------------------------------------------------------

async function refreshList() {
  try {
    const list = await client.list();
    conversations.clear();
    for (const info of list) {
      conversations.set(info.id, info);
    }

    renderList();
  } catch (error) {
    notify(`Could not list conversations: ${describe(error)}`);
  }
}

function upsertConversation(info) {
  conversations.set(info.id, { ...conversations.get(info.id), ...info });
  renderList();
}

function renderList() {
  const items = [...conversations.values()].sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
  ui.list.replaceChildren(...items.map(info => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'conversation-link';
    button.dataset.id = info.id;
    if (current?.id === info.id) {
      button.setAttribute('aria-current', 'true');
    }

    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = info.title || info.id;
    const status = document.createElement('span');
    status.className = 'status';
    status.dataset.status = info.status;
    status.textContent = statusText(info.status, info.lastRunOutcome);
    button.append(title, status);
    button.addEventListener('click', () => select(info.id));
    li.append(button);
    return li;
  }));
}

function statusText(status, outcome) {
  if (status === 'running') return 'running';
  if (status === 'waiting') return 'needs you';
  return outcome ?? 'idle';
}

// ---- One conversation -------------------------------------------------------------------------------------

function select(id) {
  if (current?.id === id) {
    return;
  }

  current?.watch.stop();
  current?.view.dispose();
  if (location.hash.slice(1) !== id) {
    history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  }

  const view = new ConversationView(id);
  current = { id, view, watch: null };
  showConversation(id);
  client.get(id).then(info => {
    upsertConversation(info);
    if (current?.id === id) ui.title.textContent = info.title;
  }, () => { /* the watch reports a conversation that cannot be shown */ });
  current.watch = client.watch(id, 0, event => view.apply(event), {
    onError: (error, willRetry) => {
      if (!willRetry) {
        notify(`This conversation cannot be shown: ${describe(error)}`);
        showConversation(null);
      }
    },
  });
  renderList();
}

function showConversation(id) {
  ui.conversation.hidden = !id;
  ui.empty.hidden = !!id;
  if (!id) {
    ui.timeline.replaceChildren();
    if (current) {
      current.watch?.stop();
      current.view.dispose();
      current = null;
    }

    history.replaceState(null, '', location.pathname + location.search);
    return;
  }

  const info = conversations.get(id);
  ui.title.textContent = info?.title ?? id;
  ui.timeline.replaceChildren();
  delete ui.timeline.dataset.events;
  delete ui.timeline.dataset.lastSeq;
  setRunStatus('idle', info?.lastRunOutcome ?? null);
}

function setRunStatus(status, outcome) {
  ui.runStatus.dataset.status = status;
  ui.runStatus.textContent = {
    running: 'Working…',
    waiting: 'Waiting for your answer',
    idle: outcome ? `Run ${outcome}` : 'Idle',
  }[status];
  ui.cancel.hidden = status === 'idle';
  // What a message does to a run matters only while one is going.
  ui.sendQueue.hidden = status === 'idle';
  ui.sendInterrupt.hidden = status === 'idle';
}

/** Builds the timeline from events, keyed by the ids the events carry. */
class ConversationView {
  constructor(id) {
    this.id = id;
    this.messages = new Map(); // messageId -> element
    this.calls = new Map(); // callId -> element
    this.requests = new Map(); // requestId -> element
    this.openRequests = new Set();
    this.running = false;
  }

  apply(event) {
    if (current?.id !== this.id) {
      return;
    }

    const stick = isNearBottom();
    const d = event.data ?? {};
    // For people debugging (and tests): how many events this view got, and the last seq.
    this.count = (this.count ?? 0) + 1;
    ui.timeline.dataset.events = String(this.count);
    ui.timeline.dataset.lastSeq = String(event.seq);
    switch (event.type) {
      case 'message.user': {
        const el = this.add(bubble('user', d.text, 'You'));
        el.dataset.seq = String(event.seq);
        if (d.queued) {
          el.classList.add('queued');
          el.append(note('Queued: starts its own run when the one before it ends.'));
        } else if (!this.running) {
          // It starts a run: forking just before it is allowed, so it can be edited and run again.
          this.runStart = { seq: event.seq, text: d.text };
          el.append(this.editButton(event.seq, d.text));
        }

        break;
      }
      case 'run.started':
        this.running = true;
        break;
      case 'message.delta': {
        const el = this.message(d.messageId);
        el.querySelector('.text').append(document.createTextNode(d.text));
        break;
      }
      case 'message.assistant': {
        const el = this.message(d.messageId);
        el.querySelector('.text').textContent = d.text;
        el.removeAttribute('aria-busy');
        el.classList.remove('streaming');
        break;
      }
      case 'message.interrupted': {
        const el = this.message(d.messageId);
        el.removeAttribute('aria-busy');
        el.classList.remove('streaming');
        el.classList.add('interrupted');
        el.append(note(`Interrupted (${d.reason}).`));
        break;
      }
      case 'progress':
        this.add(step('progress', d.text));
        break;
      case 'tool.call':
        this.addCall(d);
        break;
      case 'tool.result':
        this.settleCall(d);
        break;
      case 'input.requested':
        this.openRequests.add(d.requestId);
        if (d.kind === 'approval' && this.calls.has(d.callId)) {
          const call = this.calls.get(d.callId);
          call.dataset.requestId = d.requestId;
          call.querySelector('.label').textContent = `${shortName(d.name)} waits for your approval`;
        }

        this.add(this.requestCard(d));
        break;
      case 'input.received':
        this.openRequests.delete(d.requestId);
        if (d.approved === true) {
          const call = [...this.calls.entries()].find(([, el]) => el.dataset.requestId === d.requestId)?.[1];
          if (call?.dataset.state === 'pending') call.querySelector('.label').textContent = `Calling ${call.dataset.tool}`;
        }

        this.closeRequest(d.requestId, d.approved === true ? 'Approved' : d.approved === false ? 'Denied' : `Answered: ${d.text ?? ''}`);
        break;
      case 'subagent.started':
        this.add(this.subagentCard(d));
        break;
      case 'subagent.ended': {
        const card = this.subagents.get(d.childId);
        if (card) {
          card.dataset.state = d.outcome;
          card.querySelector('.status').textContent = d.outcome;
        }

        break;
      }
      case 'run.resumed':
        this.add(step('resumed', `The run resumed after a ${d.reason ?? 'restart'}.`));
        break;
      case 'run.completed':
        this.endRun('completed', 'Done.');
        break;
      case 'run.failed':
        this.endRun('failed', `The run failed: ${d.error?.message ?? d.error?.code ?? 'unknown error'}`);
        break;
      case 'run.cancelled':
        this.endRun('cancelled', 'The run was cancelled.');
        break;
      default:
        break;
    }

    const status = !this.running ? 'idle' : this.openRequests.size > 0 ? 'waiting' : 'running';
    const info = conversations.get(this.id);
    const outcome = this.outcome ?? info?.lastRunOutcome ?? null;
    setRunStatus(status, outcome);
    // The list shows status and sorts by activity: touch it when those change, not on every token.
    if (info && (info.status !== status || info.lastRunOutcome !== outcome || event.type === 'message.user')) {
      upsertConversation({ id: this.id, status, lastRunOutcome: outcome, lastSeq: event.seq, updatedAt: event.at });
    }

    if (stick) {
      scrollToBottom();
    }
  }

  add(element) {
    ui.timeline.append(element);
    return element;
  }

  /**
   * A sub-agent under the parent's step: its title and status; opened, it watches the child's own log and shows its
   * text as it streams; a button opens the child as a conversation of its own.
   */
  watchChild(childId, onEvent) {
    this.childWatches ??= new Set();
    const watch = client.watch(childId, 0, onEvent);
    this.childWatches.add(watch);
    return watch;
  }

  /** Stops what the view watches besides its own conversation (opened sub-agents). */
  dispose() {
    for (const watch of this.childWatches ?? []) watch.stop();
    this.childWatches?.clear();
  }

  subagentCard(d) {
    this.subagents ??= new Map();
    const card = document.createElement('li');
    card.className = 'step subagent';
    card.dataset.childId = d.childId;
    card.dataset.state = 'running';
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    const title = document.createElement('span');
    title.className = 'label';
    title.textContent = `Sub-agent: ${d.title}`;
    const status = document.createElement('span');
    status.className = 'status';
    status.textContent = 'running';
    summary.append(title, ' ', status);
    const text = document.createElement('div');
    text.className = 'text';
    details.append(summary, text);
    let watch = null;
    details.addEventListener('toggle', () => {
      if (details.open && !watch) {
        text.replaceChildren();
        const messages = new Map();
        watch = this.watchChild(d.childId, event => {
          const m = event.data ?? {};
          if (event.type === 'message.delta' || event.type === 'message.assistant') {
            let el = messages.get(m.messageId);
            if (!el) {
              el = document.createElement('p');
              messages.set(m.messageId, el);
              text.append(el);
            }

            if (event.type === 'message.delta') el.append(document.createTextNode(m.text));
            else el.textContent = m.text;
          }
        });
      } else if (!details.open && watch) {
        watch.stop();
        this.childWatches.delete(watch);
        watch = null;
      }
    });
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open-child';
    open.textContent = 'Open';
    open.addEventListener('click', () => select(d.childId));
    card.append(details, open);
    this.subagents.set(d.childId, card);
    return card;
  }

  message(messageId) {
    let el = this.messages.get(messageId);
    if (!el) {
      el = this.add(bubble('assistant', '', 'Agent'));
      el.classList.add('streaming');
      el.setAttribute('aria-busy', 'true');
      this.messages.set(messageId, el);
    }

    return el;
  }

  addCall(d) {
    const name = shortName(d.name);
    const el = step('tool', `Calling ${name}`);
    el.dataset.state = 'pending';
    el.dataset.tool = name;
    el.append(details('Arguments', d.arguments));
    this.calls.set(d.callId, el);
    this.add(el);
  }

  settleCall(d) {
    const el = this.calls.get(d.callId) ?? this.add(step('tool', `Called ${shortName(d.name)}`));
    const label = el.querySelector('.label');
    if (d.error) {
      el.dataset.state = 'failed';
      label.textContent = `${shortName(d.name)} failed: ${d.error.message ?? d.error.code}`;
    } else {
      el.dataset.state = 'done';
      label.textContent = `${shortName(d.name)} ${summarize(d.result)}`;
      el.append(details('Result', d.result));
    }
  }

  requestCard(d) {
    const card = document.createElement('li');
    card.className = 'request';
    card.dataset.kind = d.kind;
    const prompt = document.createElement('p');
    prompt.className = 'prompt';
    prompt.textContent = d.kind === 'approval' ? `Approve ${shortName(d.name)}?` : d.prompt;
    card.append(prompt);
    if (d.kind === 'approval') {
      card.append(details('What it will do', d.arguments, true));
    }

    const form = document.createElement('form');
    form.className = 'answer';
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    const submit = async answer => {
      for (const control of form.elements) control.disabled = true;
      error.textContent = '';
      try {
        await client.respond(this.id, { requestId: d.requestId, ...answer });
      } catch (e) {
        if (errorCode(e) === 'conflict') {
          error.textContent = 'This request was already answered, or its run has ended.';
          return;
        }

        error.textContent = describe(e);
        for (const control of form.elements) control.disabled = false;
      }
    };

    if (d.kind === 'approval') {
      const approve = button('Approve', () => submit({ approved: true }));
      const deny = button('Deny', () => submit({ approved: false }), 'secondary');
      form.append(approve, deny);
      form.addEventListener('submit', e => e.preventDefault());
    } else {
      const id = `answer-${d.requestId}`;
      const label = document.createElement('label');
      label.htmlFor = id;
      label.className = 'visually-hidden';
      label.textContent = 'Your answer';
      const input = document.createElement('input');
      input.id = id;
      input.required = true;
      const send = document.createElement('button');
      send.type = 'submit';
      send.textContent = 'Answer';
      form.append(label, input, send);
      form.addEventListener('submit', e => {
        e.preventDefault();
        if (input.value.trim()) submit({ text: input.value.trim() });
      });
    }

    card.append(form, error);
    this.requests.set(d.requestId, card);
    return card;
  }

  closeRequest(requestId, outcome) {
    const card = this.requests.get(requestId);
    if (!card) {
      return;
    }

    card.querySelector('form')?.remove();
    card.classList.add('answered');
    card.append(note(outcome));
  }

  endRun(outcome, text) {
    this.running = false;
    this.outcome = outcome;
    for (const requestId of this.openRequests) {
      this.closeRequest(requestId, 'No longer needed: the run ended.');
    }

    this.openRequests.clear();
    const el = this.add(step('end', text));
    el.dataset.outcome = outcome;
    if (this.runStart) {
      // Try again from here: a fork just before the message that started this run, sent again.
      const { seq, text: again } = this.runStart;
      const retry = document.createElement('button');
      retry.type = 'button';
      retry.className = 'secondary retry';
      retry.textContent = 'Retry';
      retry.title = 'Run this message again in a new conversation forked before it';
      retry.addEventListener('click', () => forkAndSend(this.id, seq - 1, again, retry));
      el.append(retry);
      this.runStart = null;
    }
  }

  /** "Edit": a form in place of the message; saving forks just before it and sends the edited text there. */
  editButton(seq, text) {
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'secondary edit';
    edit.textContent = 'Edit';
    edit.title = 'Edit this message and run it again in a new conversation forked before it';
    edit.addEventListener('click', () => {
      const form = document.createElement('form');
      form.className = 'edit-form';
      const label = document.createElement('label');
      label.className = 'visually-hidden';
      label.textContent = 'Edited message';
      const input = document.createElement('textarea');
      input.id = `edit-${this.id}-${seq}`;
      input.rows = 2;
      input.value = text;
      label.htmlFor = input.id;
      const save = document.createElement('button');
      save.type = 'submit';
      save.textContent = 'Save and run';
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'secondary';
      cancel.textContent = 'Cancel';
      cancel.addEventListener('click', () => { form.replaceWith(edit); edit.focus(); });
      form.addEventListener('submit', e => {
        e.preventDefault();
        const edited = input.value.trim();
        if (edited) forkAndSend(this.id, seq - 1, edited, save);
      });
      form.append(label, input, save, cancel);
      edit.replaceWith(form);
      input.focus();
    });
    return edit;
  }
}

// ---- Little DOM helpers (text only) -----------------------------------------------------------------------

function bubble(role, text, who) {
  const li = document.createElement('li');
  li.className = `message ${role}`;
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = who;
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = text;
  li.append(author, body);
  return li;
}

function step(kind, text) {
  const li = document.createElement('li');
  li.className = `step ${kind}`;
  const label = document.createElement('span');
  label.className = 'label';
  label.textContent = text;
  li.append(label);
  return li;
}

function note(text) {
  const p = document.createElement('p');
  p.className = 'note';
  p.textContent = text;
  return p;
}

function details(summaryText, value, open = false) {
  const el = document.createElement('details');
  el.open = open;
  const summary = document.createElement('summary');
  summary.textContent = summaryText;
  const pre = document.createElement('pre');
  pre.textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  el.append(summary, pre);
  return el;
}

function button(text, onClick, className) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (className) b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

// Tool names may carry a plugin prefix ("Demo-search_restaurants"); people read the end.
function shortName(name) {
  return String(name ?? '').split(/[-.]/).pop();
}

function summarize(result) {
  if (Array.isArray(result)) return `returned ${result.length} result${result.length === 1 ? '' : 's'}`;
  if (result && typeof result === 'object' && result.confirmation) return `confirmed (${result.confirmation})`;
  return 'done';
}

function isNearBottom() {
  const el = document.scrollingElement;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
}

let scrollPending = false;
function scrollToBottom() {
  if (scrollPending) return;
  scrollPending = true;
  requestAnimationFrame(() => {
    scrollPending = false;
    ui.timeline.lastElementChild?.scrollIntoView({ block: 'end' });
  });
}

// ---- Wiring -----------------------------------------------------------------------------------------------

ui.who.addEventListener('submit', async e => {
  e.preventDefault();
  const user = ui.user.value.trim();
  if (!user) return;
  notify('');
  try {
    await signIn(user);
  } catch (error) {
    notify(describe(error));
  }
});

ui.newConversation.addEventListener('submit', async e => {
  e.preventDefault();
  const text = ui.newText.value.trim();
  const submit = ui.newConversation.querySelector('button');
  submit.disabled = true;
  notify('');
  try {
    const info = await client.create(text ? { text, clientMessageId: newClientMessageId() } : {});
    ui.newText.value = '';
    upsertConversation(info);
    select(info.id);
    ui.message.focus();
  } catch (error) {
    notify(`Could not start the conversation: ${describe(error)}`);
  } finally {
    submit.disabled = false;
  }
});

/** Forks a conversation after `afterSeq`, opens the fork and sends `text` there (edit and rerun, retry). */
async function forkAndSend(conversationId, afterSeq, text, button) {
  button.disabled = true;
  notify('');
  try {
    const fork = await client.fork(conversationId, afterSeq);
    upsertConversation(fork);
    select(fork.id);
    await client.send(fork.id, text);
  } catch (error) {
    notify(`Could not run it again: ${describe(error)}`);
  } finally {
    button.disabled = false;
  }
}

ui.composer.addEventListener('submit', async e => {
  e.preventDefault();
  const text = ui.message.value.trim();
  if (!text || !current) return;
  // Send steers the run (the default); the other buttons name their mode.
  const mode = e.submitter?.value || undefined;
  notify('');
  ui.message.value = '';
  try {
    await client.send(current.id, text, { mode });
  } catch (error) {
    ui.message.value = text;
    notify(`Not sent: ${describe(error)}`);
  }
});

ui.message.addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.cancel.addEventListener('click', async () => {
  if (!current) return;
  ui.cancel.disabled = true;
  try {
    await client.cancel(current.id);
  } catch (error) {
    notify(`Could not cancel: ${describe(error)}`);
  } finally {
    ui.cancel.disabled = false;
  }
});

window.addEventListener('hashchange', () => {
  const id = decodeURIComponent(location.hash.slice(1));
  if (client && id && id !== current?.id) select(id);
});

// A stored name signs in at once; a first visit asks for one (default "demo").
const stored = localStorage.getItem(USER_KEY);
ui.user.value = stored ?? 'demo';
if (stored) {
  signIn(stored).catch(error => notify(describe(error)));
} else {
  ui.user.focus();
}
