// The README's subscription example (make try runs it): follows one conversation's message
// statuses over graphql-ws until its message and the reply are PERSISTED, or 30 s pass.
//
//   PARLEY_URL=http://127.0.0.1:4000 TOKEN=<session token> CONVERSATION=<id> node scripts/try-subscription.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { PARLEY_URL = 'http://127.0.0.1:4000', TOKEN: token, CONVERSATION: c } = process.env;
const timer = setTimeout(() => finish(1, 'not both PERSISTED within 30 s (is the worker running?)'), 30_000);
function finish(code, problem) {
  if (problem) console.error(problem);
  clearTimeout(timer);
  process.exitCode = code;
  client.dispose();
}

// --- the README's snippet ---
const client = createClient({
  url: `${PARLEY_URL.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket, // Node 20 has no WebSocket of its own; browsers and Node 22+ need no webSocketImpl
  connectionParams: { authorization: `Bearer ${token}` },
});
const statuses = new Map();
client.subscribe(
  {
    query: 'subscription($c: ID!) { messageStatusChanged(conversationId: $c) { messageId status } }',
    variables: { c },
  },
  {
    next: ({ data }) => {
      console.log(JSON.stringify(data));
      const { messageId, status } = data.messageStatusChanged;
      statuses.set(messageId, status);
      if (statuses.size >= 2 && [...statuses.values()].every((s) => s === 'PERSISTED')) finish(0);
    },
    error: (error) => finish(1, error),
    complete: () => {},
  },
);
// --- end of the snippet ---
