// Peer (d) of the write benchmark, the framework floor: Apollo Server 5 + Fastify answering
// `sendMessage` with no I/O at all. What any send costs before it does anything: HTTP, GraphQL
// parsing, validation and execution, JSON. No server built on this stack answers faster.
//
// Per `sendMessage`: the input checked as Parley checks it (BAD_USER_INPUT), new ids from
// randomUUID for the message, the reply and (if none was given) the conversation, and status
// QUEUED. No auth (the bearer token is not read), no database, no Redis: nothing is stored.
//
// Environment: PORT (4600); nothing else.
// Run: PORT=4613 node load/peers/floor-peer.mjs
import { randomUUID } from 'node:crypto';
import { startPeer } from './apollo-fastify.mjs';
import { newExchange, readSendInput, toPayload, typeDefs } from './send-message.mjs';

const resolvers = {
  Query: { ok: () => true },
  Mutation: {
    sendMessage: (_parent, { input }) => {
      const { conversationId, text } = readSendInput(input);
      const { message, reply } = newExchange(text);
      return toPayload({ conversationId: conversationId ?? randomUUID(), message, reply, status: 'QUEUED' });
    },
  },
};

await startPeer({ typeDefs, resolvers });
