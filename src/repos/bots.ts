import type { Db, Executor } from '../platform/postgres/connection';
import type { BotRecord } from './records';

interface BotRow {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  instructions: string | null;
  public_key: string;
  allowed_origins: string[];
  created_at: Date;
  updated_at: Date;
}

const toRecord = (row: BotRow): BotRecord => ({
  id: row.id,
  ownerId: row.owner_id,
  name: row.name,
  description: row.description,
  instructions: row.instructions,
  publicKey: row.public_key,
  allowedOrigins: row.allowed_origins,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const COLUMNS = [
  'id',
  'owner_id',
  'name',
  'description',
  'instructions',
  'public_key',
  'allowed_origins',
  'created_at',
  'updated_at',
];

export interface BotChanges {
  name?: string;
  description?: string | null;
  instructions?: string | null;
  allowedOrigins?: string[];
}

export type BotsRepo = ReturnType<typeof createBotsRepo>;

export function createBotsRepo(db: Db) {
  return {
    async create(
      input: Omit<BotRecord, 'createdAt' | 'updatedAt' | 'allowedOrigins'>,
      executor: Executor = db,
    ): Promise<BotRecord> {
      const [row] = await executor<BotRow>('bots')
        .insert({
          id: input.id,
          owner_id: input.ownerId,
          name: input.name,
          description: input.description,
          instructions: input.instructions,
          public_key: input.publicKey,
        })
        .returning(COLUMNS);
      return toRecord(row as BotRow);
    },

    async update(id: string, changes: BotChanges, executor: Executor = db): Promise<BotRecord | undefined> {
      const [row] = await executor<BotRow>('bots')
        .where({ id })
        .update({
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.description !== undefined ? { description: changes.description } : {}),
          ...(changes.instructions !== undefined ? { instructions: changes.instructions } : {}),
          ...(changes.allowedOrigins !== undefined ? { allowed_origins: changes.allowedOrigins } : {}),
          updated_at: executor.fn.now(),
        })
        .returning(COLUMNS);
      return row && toRecord(row as BotRow);
    },

    async delete(id: string, executor: Executor = db): Promise<boolean> {
      return (await executor('bots').where({ id }).delete()) > 0;
    },

    async findByIds(ids: readonly string[], executor: Executor = db): Promise<BotRecord[]> {
      const rows = await executor('bots')
        .select<BotRow[]>(COLUMNS)
        .whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },

    /**
     * The counters the write path keeps on each bot. Read apart from the cached bot rows: they
     * change with every flush, and caching them would mean invalidating every hot bot as often.
     */
    async activityByIds(
      ids: readonly string[],
      executor: Executor = db,
    ): Promise<{ id: string; messageCount: number; lastActiveAt: Date | null }[]> {
      const rows: { id: string; message_count: string; last_active_at: Date | null }[] = await executor('bots')
        .select('id', 'message_count', 'last_active_at')
        .whereIn('id', ids as string[]);
      return rows.map((row) => ({
        id: row.id,
        messageCount: Number(row.message_count),
        lastActiveAt: row.last_active_at,
      }));
    },

    async findByPublicKey(publicKey: string, executor: Executor = db): Promise<BotRecord | undefined> {
      const row = await executor('bots').select<BotRow[]>(COLUMNS).where({ public_key: publicKey }).first();
      return row && toRecord(row);
    },

    /** The ids of the most active bots (last activity, then messages): what the cache warms first. */
    async mostActiveIds(limit: number, executor: Executor = db): Promise<string[]> {
      const rows: { id: string }[] = await executor('bots')
        .select('id')
        .orderByRaw('last_active_at DESC NULLS LAST, message_count DESC, id')
        .limit(limit);
      return rows.map((row) => row.id);
    },

    /** The bots of the owner with this e-mail, oldest first: the widget's demo index. */
    async listByOwnerEmail(email: string, executor: Executor = db): Promise<BotRecord[]> {
      const rows: BotRow[] = await executor('bots')
        .join('users', 'users.id', 'bots.owner_id')
        .where('users.email', email)
        .orderBy('bots.created_at')
        .select(COLUMNS.map((column) => `bots.${column}`));
      return rows.map(toRecord);
    },

    /** The bots of several owners (id and owner only), in creation order: the cached bot lists. */
    async listByOwners(
      ownerIds: readonly string[],
      executor: Executor = db,
    ): Promise<{ id: string; ownerId: string }[]> {
      const rows: { id: string; owner_id: string }[] = await executor('bots')
        .select('id', 'owner_id')
        .whereIn('owner_id', ownerIds as string[])
        .orderBy('id');
      return rows.map((row) => ({ id: row.id, ownerId: row.owner_id }));
    },
  };
}
