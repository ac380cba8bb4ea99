import type { Db, Executor } from '../platform/postgres/connection';
import { isUniqueViolation } from '../platform/postgres/pg-errors';
import { newId } from '../core/ids';
import type { Plan, UserRecord } from './records';

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  plan: Plan;
  password_hash: string;
  created_at: Date;
  updated_at: Date;
}

const toRecord = (row: UserRow): UserRecord => ({
  id: row.id,
  email: row.email,
  name: row.name,
  plan: row.plan,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export class EmailTakenError extends Error {
  override readonly name = 'EmailTakenError';
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;

export function createUsersRepo(db: Db) {
  return {
    async create(
      input: { email: string; passwordHash: string; name: string | null },
      executor: Executor = db,
    ): Promise<UserRecord> {
      try {
        const [row] = await executor<UserRow>('users')
          .insert({ id: newId(), email: input.email, password_hash: input.passwordHash, name: input.name })
          .returning('*');
        return toRecord(row as UserRow);
      } catch (error: unknown) {
        if (isUniqueViolation(error, 'users_email_unique')) throw new EmailTakenError(input.email);
        throw error;
      }
    },

    async findCredentials(
      email: string,
      executor: Executor = db,
    ): Promise<{ user: UserRecord; passwordHash: string } | undefined> {
      const row = await executor<UserRow>('users').where({ email }).first();
      return row && { user: toRecord(row), passwordHash: row.password_hash };
    },

    /** Users by id, in one query; the caller orders them. */
    async findByIds(ids: readonly string[], executor: Executor = db): Promise<UserRecord[]> {
      const rows = await executor<UserRow>('users').whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },
  };
}
