import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses } from 'ai';

// The chat id lives in the address, so a reload finds the same conversation (and resumes its answer).
const params = new URLSearchParams(location.search);
if (!params.get('chat')) {
  params.set('chat', `chat-${crypto.randomUUID()}`);
  history.replaceState(null, '', `?${params}`);
}
const chatId = params.get('chat');
const user = params.get('user') ?? 'demo';

async function load() {
  // A development token (Auth:DevTokens, on in the single-node set-up); a real page gets its token from its login.
  const { token } = await (await fetch('/api/dev/token', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }),
  })).json();
  const restored = await fetch(`/api/ui/chat/${chatId}/messages`, { headers: { authorization: `Bearer ${token}` } });
  return { token, messages: restored.ok ? await restored.json() : [] };
}

function Chat({ token, initialMessages }) {
  const headers = { authorization: `Bearer ${token}` };
  const { messages, sendMessage, addToolApprovalResponse, status } = useChat({
    id: chatId,
    messages: initialMessages,
    resume: true,
    transport: new DefaultChatTransport({ api: '/api/ui/chat', headers }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  const [text, setText] = useState('');
  const stop = () => fetch(`/api/ui/chat/${chatId}/stop`, { method: 'POST', headers });

  return (
    <main data-status={status}>
      {messages.map((message) => (
        <section key={message.id} className="message" data-role={message.role}>
          {message.parts.map((part, i) => {
            if (part.type === 'text') return <p key={i} className="text">{part.text}</p>;
            if (part.type === 'data-progress') return <p key={i} className="progress">{part.data.text}</p>;
            if (part.type === 'tool-make_reservation' && part.state === 'approval-requested') {
              return (
                <div key={i} className="approval">
                  Book {part.input.restaurant} at {part.input.time} for {part.input.people}?
                  <button onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: true })}>Approve</button>
                  <button onClick={() => addToolApprovalResponse({ id: part.approval.id, approved: false })}>Deny</button>
                </div>
              );
            }
            if (part.type.startsWith('tool-')) return <p key={i} className="tool" data-state={part.state}>{part.type.slice(5)}: {part.state}</p>;
            return null;
          })}
        </section>
      ))}
      <form onSubmit={(e) => { e.preventDefault(); if (text.trim()) { sendMessage({ text }); setText(''); } }}>
        <input name="message" value={text} onChange={(e) => setText(e.target.value)} placeholder="Order me dinner" />
        <button type="submit">Send</button>
        <button type="button" onClick={stop}>Stop</button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState(null);
  useEffect(() => { load().then(setSession); }, []);
  return session ? <Chat token={session.token} initialMessages={session.messages} /> : <p>Loading…</p>;
}

createRoot(document.getElementById('root')).render(<StrictMode><App /></StrictMode>);
