import { randomBytes } from 'node:crypto';
import type { Access } from '../auth/access';
import { BadUserInputError, NotFoundError } from '../errors';
import { isUuid, newId } from '../ids';
import type { Loaders } from '../loaders/create-loaders';
import type { BotChanges, BotsRepo } from '../repos/bots';
import type { BotRecord } from '../repos/records';
import { optionalText, requireIntInRange, requireText } from '../validation';

const NAME_MAX = 100;
const DESCRIPTION_MAX = 1000;
const INSTRUCTIONS_MAX = 4000;

/** 144 random bits: the widget key is public, but must not be guessable or enumerable. */
export function newPublicKey(): string {
  return `pk_${randomBytes(18).toString('base64url')}`;
}

export type BotService = ReturnType<typeof createBotService>;

export function createBotService(deps: { bots: BotsRepo; access: Access; loaders: Loaders }) {
  const { access } = deps;
  return {
    get: (id: string) => access.ownedBot(id, 'id'),

    async list(first: number | null | undefined, after: string | null | undefined): Promise<BotRecord[]> {
      const ownerId = access.requireOwner();
      const pageSize = requireIntInRange(first, 'first', { min: 1, max: 100, fallback: 20 });
      if (after != null && !isUuid(after))
        throw new BadUserInputError('after must be the id of a bot from a previous page.', 'after');
      return deps.bots.listByOwner(ownerId, { first: pageSize, afterId: after ?? undefined });
    },

    async create(input: {
      name: string;
      description?: string | null;
      instructions?: string | null;
    }): Promise<BotRecord> {
      const ownerId = access.requireOwner();
      return deps.bots.create({
        id: newId(),
        ownerId,
        name: requireText(input.name, 'name', { max: NAME_MAX }),
        description: optionalText(input.description, 'description', DESCRIPTION_MAX) ?? null,
        instructions: optionalText(input.instructions, 'instructions', INSTRUCTIONS_MAX) ?? null,
        publicKey: newPublicKey(),
      });
    },

    async update(
      id: string,
      input: { name?: string | null; description?: string | null; instructions?: string | null },
    ): Promise<BotRecord> {
      const bot = await access.ownedBot(id, 'id');
      if (input.name === null) throw new BadUserInputError('name cannot be cleared.', 'name');
      const changes: BotChanges = {};
      if (input.name !== undefined) changes.name = requireText(input.name, 'name', { max: NAME_MAX });
      const description = optionalText(input.description, 'description', DESCRIPTION_MAX);
      if (description !== undefined) changes.description = description;
      const instructions = optionalText(input.instructions, 'instructions', INSTRUCTIONS_MAX);
      if (instructions !== undefined) changes.instructions = instructions;
      if (Object.keys(changes).length === 0) return bot;
      const updated = await deps.bots.update(bot.id, changes);
      // Deleted between the ownership check and the update.
      if (!updated) throw new NotFoundError('Bot', bot.id);
      deps.loaders.bot.clear(bot.id).prime(bot.id, updated);
      return updated;
    },

    async delete(id: string): Promise<boolean> {
      const bot = await access.ownedBot(id, 'id');
      deps.loaders.bot.clear(bot.id);
      return deps.bots.delete(bot.id);
    },
  };
}
