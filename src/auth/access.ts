import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../core/errors';
import { loadExisting, type Loaders } from '../loaders/create-loaders';
import type { BotRecord, ConversationRecord, SourceRecord } from '../repos/records';
import type { SignedInViewer, Viewer } from '../sessions/session-service';
import { requireId } from '../core/validation';

export type Access = ReturnType<typeof createAccess>;

/**
 * Who may see and change what. An owner reaches only their own bots and what hangs
 * off them; a widget visitor reaches only the conversations of their own session.
 * Existing entities of someone else answer FORBIDDEN, unknown ids NOT_FOUND.
 */
export function createAccess(deps: { viewer: Viewer; tokenRejected: boolean; loaders: Loaders }) {
  const { viewer, loaders } = deps;

  const unauthenticated = () =>
    new UnauthenticatedError(
      deps.tokenRejected
        ? 'Your session has expired or the token is not valid: log in again.'
        : 'Sign in first: send `Authorization: Bearer <token>`.',
    );

  const requireOwner = (): string => {
    if (viewer.kind === 'USER') return viewer.userId;
    if (viewer.kind === 'VISITOR')
      throw new ForbiddenError('A widget session can only chat; sign in as the bot owner.');
    throw unauthenticated();
  };

  const ownedBot = async (botId: string, field = 'botId'): Promise<BotRecord> => {
    const userId = requireOwner();
    const id = requireId(botId, field);
    const bot = await loadExisting(loaders.bot, 'Bot', id);
    if (bot.ownerId !== userId) throw new ForbiddenError('This bot belongs to another account.');
    return bot;
  };

  return {
    viewer,
    /** A token was sent but is unknown, expired or malformed. */
    tokenRejected: deps.tokenRejected,
    requireOwner,
    ownedBot,

    requireViewer(): SignedInViewer {
      if (viewer.kind === 'ANONYMOUS') throw unauthenticated();
      return viewer;
    },

    isOwnerOf(bot: BotRecord): boolean {
      return viewer.kind === 'USER' && viewer.userId === bot.ownerId;
    },

    async ownedSource(sourceId: string, field = 'id'): Promise<SourceRecord> {
      requireOwner();
      const id = requireId(sourceId, field);
      const source = await loadExisting(loaders.source, 'Source', id);
      await ownedBot(source.botId);
      return source;
    },

    /** Owners read every conversation of their bots; a visitor only their own. */
    async readableConversation(conversationId: string, field = 'id'): Promise<ConversationRecord> {
      if (viewer.kind === 'ANONYMOUS') throw unauthenticated();
      const id = requireId(conversationId, field);
      const conversation = await loadExisting(loaders.conversation, 'Conversation', id);
      if (viewer.kind === 'VISITOR') {
        if (conversation.visitorId !== viewer.visitorId)
          throw new ForbiddenError('This conversation belongs to someone else.');
        return conversation;
      }
      // A conversation outlives its bot only in a cache: with the bot gone, it is gone too.
      const bot = await loaders.bot.load(conversation.botId);
      if (!bot) throw new NotFoundError('Conversation', id);
      if (bot.ownerId !== viewer.userId) throw new ForbiddenError('This conversation belongs to someone else.');
      return conversation;
    },
  };
}
