import { randomBytes } from 'node:crypto';
import type { Access } from '../auth/access';
import { BadUserInputError, NotFoundError } from '../core/errors';
import { isUuid, newId } from '../core/ids';
import type { Loaders } from '../loaders/create-loaders';
import type { BotChanges, BotsRepo } from '../repos/bots';
import type { BotRecord } from '../repos/records';
import type { CacheInvalidation } from '../cache/invalidation';
import type { SessionService } from '../sessions/session-service';
import { optionalText, requireIntInRange, requireText } from '../core/validation';

const NAME_MAX = 100;
const DESCRIPTION_MAX = 1000;
const INSTRUCTIONS_MAX = 4000;

/** 144 random bits: the widget key is public, but must not be guessable or enumerable. */
function newPublicKey(): string {
  return `pk_${randomBytes(18).toString('base64url')}`;
}

const ORIGINS_MAX = 20;
const ORIGIN_MAX = 200;

/**
 * Web origins as browsers send them in `Origin`: scheme, host and port only, lower-cased, the
 * default port left out. Anything with a path, credentials or another scheme is refused: a
 * page's origin never has them, so such an entry could only be a mistake.
 */
function requireOrigins(values: readonly string[]): string[] {
  if (values.length > ORIGINS_MAX) {
    throw new BadUserInputError(`allowedOrigins takes at most ${ORIGINS_MAX} origins.`, 'allowedOrigins');
  }
  const origins = values.map((value) => {
    const text = requireText(value, 'allowedOrigins', { max: ORIGIN_MAX });
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new BadUserInputError(`"${text}" is not an origin such as https://shop.example.`, 'allowedOrigins');
    }
    const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if (!['http:', 'https:'].includes(url.protocol) || !bare || !/^https?:\/\/[^/]+\/?$/i.test(text)) {
      throw new BadUserInputError(
        `"${text}" is not an origin: give the scheme and host only, e.g. https://shop.example.`,
        'allowedOrigins',
      );
    }
    return url.origin;
  });
  return [...new Set(origins)];
}

export type BotService = ReturnType<typeof createBotService>;

export function createBotService(deps: {
  bots: BotsRepo;
  access: Access;
  loaders: Loaders;
  invalidation: CacheInvalidation;
  sessions: Pick<SessionService, 'endAllForBot'>;
}) {
  const { access } = deps;
  return {
    get: (id: string) => access.ownedBot(id, 'id'),

    async list(first: number | null | undefined, after: string | null | undefined): Promise<BotRecord[]> {
      const ownerId = access.requireOwner();
      const pageSize = requireIntInRange(first, 'first', { min: 1, max: 100, fallback: 20 });
      if (after != null && !isUuid(after))
        throw new BadUserInputError('after must be the id of a bot from a previous page.', 'after');
      // The owner's bot ids (cached as one list) in creation order, then the page's bots.
      const ids = (await deps.loaders.botIdsByOwner.load(ownerId)) ?? [];
      const start = after == null ? 0 : ids.findIndex((id) => id > after.toLowerCase());
      const page = start === -1 ? [] : ids.slice(start, start + pageSize);
      const bots = await deps.loaders.bot.loadMany(page);
      return bots.filter((bot): bot is BotRecord => bot !== null && !(bot instanceof Error));
    },

    async create(input: {
      name: string;
      description?: string | null;
      instructions?: string | null;
    }): Promise<BotRecord> {
      const ownerId = access.requireOwner();
      const bot = await deps.bots.create({
        id: newId(),
        ownerId,
        name: requireText(input.name, 'name', { max: NAME_MAX }),
        description: optionalText(input.description, 'description', DESCRIPTION_MAX) ?? null,
        instructions: optionalText(input.instructions, 'instructions', INSTRUCTIONS_MAX) ?? null,
        publicKey: newPublicKey(),
      });
      await deps.invalidation.botCreated(bot);
      return bot;
    },

    async update(
      id: string,
      input: {
        name?: string | null;
        description?: string | null;
        instructions?: string | null;
        allowedOrigins?: readonly string[] | null;
      },
    ): Promise<BotRecord> {
      const bot = await access.ownedBot(id, 'id');
      if (input.name === null) throw new BadUserInputError('name cannot be cleared.', 'name');
      const changes: BotChanges = {};
      if (input.name !== undefined) changes.name = requireText(input.name, 'name', { max: NAME_MAX });
      const description = optionalText(input.description, 'description', DESCRIPTION_MAX);
      if (description !== undefined) changes.description = description;
      const instructions = optionalText(input.instructions, 'instructions', INSTRUCTIONS_MAX);
      if (instructions !== undefined) changes.instructions = instructions;
      // null clears the list, as an empty one does: any site may then embed the widget.
      if (input.allowedOrigins !== undefined) changes.allowedOrigins = requireOrigins(input.allowedOrigins ?? []);
      if (Object.keys(changes).length === 0) return bot;
      const updated = await deps.bots.update(bot.id, changes);
      // Deleted between the ownership check and the update.
      if (!updated) throw new NotFoundError('Bot', bot.id);
      await deps.invalidation.botUpdated(updated);
      deps.loaders.bot.clear(bot.id).prime(bot.id, updated);
      return updated;
    },

    async delete(id: string): Promise<boolean> {
      const bot = await access.ownedBot(id, 'id');
      const sourceIds = (await deps.loaders.sourceIdsByBot.load(bot.id)) ?? [];
      // Its visitors' sessions end first, on either store, and their open sockets close.
      await deps.sessions.endAllForBot(bot.id);
      const deleted = await deps.bots.delete(bot.id);
      // The cascade took the bot's sources, conversations and (PostgreSQL) visitor sessions.
      await deps.invalidation.botDeleted(bot, sourceIds);
      deps.loaders.bot.clear(bot.id);
      return deleted;
    },
  };
}
