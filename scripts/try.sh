#!/usr/bin/env bash
# `make try`: the README's example queries, run as they are against a running Parley (make dev in
# another terminal; PARLEY_URL, default http://127.0.0.1:4000). Needs the demo data (make seed).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- the README's "Example queries", verbatim (test/integration/try.test.ts keeps them equal) ---
P=${PARLEY_URL:-http://127.0.0.1:4000}
gql() { curl -sS "$P/graphql" -H 'content-type: application/json' ${TOKEN:+-H "authorization: Bearer $TOKEN"} -d "$1"; echo; }
field() { node -pe "JSON.parse(require('fs').readFileSync(0)).data.$1"; }

# Log in as the demo owner; list the bots with their sources; take the coffee shop's bot
TOKEN=$(gql '{"query":"mutation { logIn(email: \"demo@parley.dev\", password: \"parley-demo\") { token } }"}' | field logIn.token)
gql '{"query":"{ me { email } bots { id name publicKey sources { title status chunkCount } } }"}'
BOT=$(gql '{"query":"{ bots { id publicKey } }"}' | field 'bots.find((bot) => bot.publicKey === "pk_demo_coffee").id')

# Search its knowledge (empty until the worker has ingested the sources)
gql '{"query":"query($b: ID!) { search(botId: $b, query: \"refund\", limit: 2) { score content } }","variables":{"b":"'"$BOT"'"}}'

# Add a source: PENDING until the worker has chunked and embedded it, then READY
gql '{"query":"mutation($b: ID!) { createSource(input: { botId: $b, kind: TEXT, title: \"Gift cards\", text: \"Gift cards are valid for two years.\" }) { id status } }","variables":{"b":"'"$BOT"'"}}'

# Upload a file as a source
printf '# Opening hours\nSaturdays from 9:00 to 14:00.\n' > /tmp/parley-hours.md
curl -sS "$P/uploads" -H "authorization: Bearer $TOKEN" -F botId="$BOT" -F file=@/tmp/parley-hours.md; echo

# Chat as a widget visitor: a session for the bot's public key, a message, the conversation
TOKEN=$(gql '{"query":"mutation { startWidgetSession(publicKey: \"pk_demo_coffee\") { token } }"}' | field startWidgetSession.token)
SENT=$(gql '{"query":"mutation($b: ID!) { sendMessage(input: { botId: $b, text: \"When are you open on Saturday?\" }) { conversationId message { id status } reply { content } } }","variables":{"b":"'"$BOT"'"}}')
echo "$SENT"
CONVERSATION=$(echo "$SENT" | field sendMessage.conversationId)
gql '{"query":"query($c: ID!) { conversation(id: $c) { messages { role content status createdAt } } }","variables":{"c":"'"$CONVERSATION"'"}}'

# Follow the messages' status until both are stored (scripts/try-subscription.mjs)
PARLEY_URL=$P TOKEN=$TOKEN CONVERSATION=$CONVERSATION node scripts/try-subscription.mjs
# --- end of the README's example ---
