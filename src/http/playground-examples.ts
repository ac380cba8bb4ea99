/**
 * The README's example operations, one GraphiQL tab each (the tab takes the name of its
 * first operation). GraphiQL shows them only until the browser has stored tabs of its own
 * ("Clear storage" in its settings brings them back). Kept valid against schema/ by
 * test/browser/playground.test.ts.
 */
export interface ExampleTab {
  query: string;
  /** JSON text for the variables editor. */
  variables?: string;
}

const variables = (value: Record<string, unknown>) => JSON.stringify(value, null, 2);

export const EXAMPLE_TABS: ExampleTab[] = [
  {
    query: `# Parley: the README's examples, one per tab.
#
# 1. Run this tab (Ctrl-Enter or ▶) to log in as the
#    demo owner that \`make dev\` seeds.
# 2. In "Headers" below, replace <token> with
#    data.logIn.token. Headers belong to a tab: paste
#    the token into each tab you run. Subscriptions
#    send them in graphql-ws' connection_init.
mutation LogIn {
  logIn(email: "demo@parley.dev", password: "parley-demo") {
    token
    expiresAt
  }
}
`,
  },
  {
    query: `# The signed-in owner, their bots and sources
# (needs the owner's token).
query MyBots {
  me {
    email
  }
  bots {
    id
    name
    publicKey
    sources {
      title
      status
      chunkCount
    }
  }
}
`,
  },
  {
    query: `# Search a bot's knowledge: put a bot id from
# MyBots into the variables.
query Search($b: ID!) {
  search(botId: $b, query: "refund", limit: 2) {
    score
    content
  }
}
`,
    variables: variables({ b: '<bot id>' }),
  },
  {
    query: `# Add a TEXT source, then run PollSource with its
# id until its status is READY. FILE sources are
# uploaded with POST /uploads (see the README).
mutation CreateSource($b: ID!) {
  createSource(
    input: {
      botId: $b
      kind: TEXT
      title: "Gift cards"
      text: "Gift cards are valid for two years."
    }
  ) {
    id
    status
  }
}

query PollSource($id: ID!) {
  source(id: $id) {
    status
    chunkCount
    error
  }
}
`,
    variables: variables({ b: '<bot id>', id: '<source id>' }),
  },
  {
    query: `# Chat as a widget visitor of the demo coffee bot:
# use this token as "Bearer <token>" in the
# SendMessage, Conversation and MessageStatusChanged
# tabs.
mutation StartWidgetSession {
  startWidgetSession(publicKey: "pk_demo_coffee") {
    token
    bot {
      id
      name
    }
  }
}
`,
  },
  {
    query: `# Send a message as the visitor (or the bot's
# owner); without conversationId it starts one.
mutation SendMessage($b: ID!) {
  sendMessage(input: { botId: $b, text: "When are you open on Saturday?" }) {
    conversationId
    message {
      id
      status
    }
    reply {
      content
    }
  }
}
`,
    variables: variables({ b: '<coffee bot id>' }),
  },
  {
    query: `# A conversation's messages, oldest first.
query Conversation($c: ID!) {
  conversation(id: $c) {
    messages {
      role
      content
      status
      createdAt
    }
  }
}
`,
    variables: variables({ c: '<conversation id>' }),
  },
  {
    query: `# Over graphql-ws on the same URL: first the
# status of the conversation's recent messages, then
# every change. The result shows the latest event;
# the stop button (■) ends the subscription.
subscription MessageStatusChanged($c: ID!) {
  messageStatusChanged(conversationId: $c) {
    messageId
    status
  }
}
`,
    variables: variables({ c: '<conversation id>' }),
  },
];
