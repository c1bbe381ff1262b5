// The page: sign-in, the conversation list and the open conversation, over @agents/client.
//
// No framework, on purpose. The page is small (a list, a timeline, a composer); an import map lets the browser
// load its modules and libraries as they are, with nothing to build or bundle; and the package's reducer already
// does the part a framework would: it folds the log into immutable state in which an unchanged item keeps its
// object identity. A keyed list that updates only the views whose item object changed (components/keyed-list.js)
// is then all the diffing needed: a streamed token touches one message, and nothing else is rebuilt.
import { AgentClient } from '@agents/client';
import { ConversationList } from './components/conversation-list.js';
import { ConversationPanel } from './components/conversation-panel.js';
import { describe, Notice, showConnection } from './components/notice.js';

const USER_KEY = 'agents.user';
const $ = id => document.getElementById(id);

class App {
  #ui;
  #notice;
  #list;
  #panel;
  #client = null;
  #conversations = new Map(); // id -> ConversationInfo, replaced (never mutated) when it changes

  constructor(ui) {
    this.#ui = ui;
    this.#notice = new Notice(ui.notice);
    this.#list = new ConversationList(ui.list, id => this.select(id));
    this.#panel = new ConversationPanel(ui, {
      notice: this.#notice,
      open: id => this.select(id),
      forkAndSend: (id, afterSeq, text, button) => this.#forkAndSend(id, afterSeq, text, button),
      report: patch => this.#upsert(patch),
      lost: error => {
        this.#notice.show(`This conversation cannot be shown: ${describe(error)}`);
        this.#showNone();
      },
    });
    ui.newConversation.addEventListener('submit', e => {
      e.preventDefault();
      this.#create();
    });
    window.addEventListener('hashchange', () => {
      const id = idInHash();
      if (this.#client && id) {
        this.select(id);
      }
    });
  }

  get notice() {
    return this.#notice;
  }

  async signIn(user) {
    const ui = this.#ui;
    localStorage.setItem(USER_KEY, user);
    ui.user.value = user;
    ui.signIn.textContent = 'Switch user';
    const previous = this.#client;
    // A fresh development token on every (re)connect: it survives a server restart with a new signing key.
    const client = new AgentClient({ accessTokenFactory: () => fetchDevToken(user) });
    this.#client = client;
    // A sign-in overtaken by another (a second click on Switch user) stops at its next await.
    const current = () => this.#client === client;
    client.on('state', state => current() && showConnection(ui.connection, state));
    client.on('conversationCreated', info => current() && this.#upsert(info));
    showConnection(ui.connection, client.state);
    this.#panel.close();
    this.#conversations.clear();
    this.#list.clear();
    await previous?.stop();

    // start() never fails (it retries until it connects), so a refusal for good (no development tokens here, a
    // name the server will not take) would only ever show as "Connecting…": asked once here, it reaches the notice.
    try {
      await fetchDevToken(user);
    } catch (error) {
      if (current()) {
        ui.app.hidden = true;
        ui.signedOut.hidden = false;
        throw error;
      }
    }

    if (!current()) {
      return;
    }

    ui.signedOut.hidden = true;
    ui.app.hidden = false;
    await client.start();
    if (!current()) {
      return;
    }

    await this.#refreshList(client);
    if (!current()) {
      return;
    }

    const id = idInHash();
    if (id) {
      this.select(id);
    } else {
      this.#showNone();
    }
  }

  select(id) {
    if (this.#panel.id === id) {
      return;
    }

    if (idInHash() !== id) {
      history.replaceState(null, '', `#${encodeURIComponent(id)}`);
    }

    this.#leaveOpen();
    this.#panel.open(this.#client, this.#conversations.get(id) ?? { id });
    this.#renderList();
    if (!this.#conversations.has(id)) {
      // A sub-agent opened from its parent is not listed yet: its info adds it. A failure shows through the watch.
      this.#client.get(id).then(info => this.#upsert(info), () => {});
    }
  }

  #showNone() {
    this.#leaveOpen();
    this.#panel.close();
    history.replaceState(null, '', location.pathname + location.search);
    this.#renderList();
  }

  /**
   * The list shows the open conversation's status as its panel reports it, and nobody reports it once the panel
   * shows another: one whose run was still going is asked for its info once more as it is left.
   */
  #leaveOpen() {
    const left = this.#conversations.get(this.#panel.id);
    if (left && left.status !== 'idle') {
      const client = this.#client;
      client.get(left.id).then(info => client === this.#client && this.#upsert(info), () => {});
    }
  }

  async #refreshList(client) {
    try {
      const infos = await client.list();
      // Merged, not replaced: what arrived while the list was on its way (a new conversation, a report) stays.
      if (client === this.#client) {
        this.#upsert(...infos);
      }
    } catch (error) {
      if (client === this.#client) {
        this.#notice.show(`Could not list conversations: ${describe(error)}`);
      }
    }
  }

  /**
   * Merges what is known of conversations: an info older than the one held (a smaller lastSeq) changes nothing,
   * updatedAt never goes back (the open conversation reports when its last run moved; the server's time, its last
   * event's, may be later still), and the list is drawn again only when something in it changed.
   */
  #upsert(...patches) {
    let changed = false;
    for (const patch of patches) {
      const old = this.#conversations.get(patch.id);
      if (old && patch.lastSeq < old.lastSeq) {
        continue;
      }

      const info = { ...old, ...patch };
      if (old && Date.parse(old.updatedAt) > Date.parse(info.updatedAt)) {
        info.updatedAt = old.updatedAt;
      }

      if (old && Object.keys(info).every(key => info[key] === old[key])) {
        continue;
      }

      this.#conversations.set(info.id, info);
      this.#panel.setInfo(info);
      changed = true;
    }

    if (changed) {
      this.#renderList();
    }
  }

  #renderList() {
    this.#list.render([...this.#conversations.values()], this.#panel.id);
  }

  async #create() {
    const ui = this.#ui;
    const text = ui.newText.value.trim();
    const submit = ui.newConversation.querySelector('button');
    submit.disabled = true;
    this.#notice.clear();
    try {
      const info = await this.#client.create(text ? { text } : {});
      ui.newText.value = '';
      this.#upsert(info);
      this.select(info.id);
      ui.message.focus();
    } catch (error) {
      this.#notice.show(`Could not start the conversation: ${describe(error)}`);
    } finally {
      submit.disabled = false;
    }
  }

  /** Forks a conversation after `afterSeq`, opens the fork and sends `text` there (edit and rerun, retry). */
  async #forkAndSend(conversationId, afterSeq, text, button) {
    button.disabled = true;
    this.#notice.clear();
    try {
      const fork = await this.#client.fork(conversationId, afterSeq);
      this.#upsert(fork);
      this.select(fork.id);
      await this.#client.send(fork.id, text);
    } catch (error) {
      this.#notice.show(`Could not run it again: ${describe(error)}`);
    } finally {
      button.disabled = false;
    }
  }
}

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

const idInHash = () => decodeURIComponent(location.hash.slice(1));

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
const app = new App(ui);

ui.who.addEventListener('submit', async e => {
  e.preventDefault();
  const user = ui.user.value.trim();
  if (!user) {
    return;
  }

  app.notice.clear();
  try {
    await app.signIn(user);
  } catch (error) {
    app.notice.show(describe(error));
  }
});

// A stored name signs in at once; a first visit asks for one (default "demo").
const stored = localStorage.getItem(USER_KEY);
ui.user.value = stored ?? 'demo';
if (stored) {
  app.signIn(stored).catch(error => app.notice.show(describe(error)));
} else {
  ui.user.focus();
}
