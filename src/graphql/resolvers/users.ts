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
    signUp: (_parent, { input }, { auth }) => auth.signUp(input),
    logIn: (_parent, { email, password }, { auth }) => auth.logIn(email, password),
    logOut: (_parent, _args, { access, sessions }) => sessions.end(access.requireViewer().tokenHash),
    logOutEverywhere: (_parent, _args, { access, sessions }) => sessions.endAllForUser(access.requireOwner()),
  },
};
