import type { Resolvers } from '../__generated__/resolvers-types';

export const userResolvers: Resolvers = {
  Query: {
    me: async (_parent, _args, { viewer, loaders, access }) => {
      if (viewer.kind === 'USER') return loaders.user.load(viewer.userId);
      // A rejected token is an error, not "signed out": the client must know to log in again.
      if (access.tokenRejected) access.requireViewer();
      return null;
    },
  },
  Mutation: {
    // The address decides whose turn a password hash waits for (src/auth/password-hashing.ts).
    signUp: (_parent, { input }, { auth, clientIp }) => auth.signUp(input, clientIp),
    logIn: (_parent, { email, password }, { auth, clientIp }) => auth.logIn(email, password, clientIp),
    logOut: (_parent, _args, { access, sessions }) => sessions.end(access.requireViewer().tokenHash),
    logOutEverywhere: (_parent, _args, { access, sessions }) => sessions.endAllForUser(access.requireOwner()),
  },
};
