import type { Knex } from 'knex';

/** Lets the ingestion queue hold a source back until a retry is due. */
export const sourceRetryDelay = {
  async up(knex: Knex): Promise<void> {
    await knex.schema.alterTable('sources', (t) => {
      // Not claimed before this time: a retry after a transient failure waits here.
      t.timestamp('available_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    });
    await knex.raw('DROP INDEX sources_queue_idx');
    await knex.raw(
      `CREATE INDEX sources_queue_idx ON sources (available_at) WHERE status IN ('PENDING', 'PROCESSING')`,
    );
  },

  async down(knex: Knex): Promise<void> {
    await knex.raw('DROP INDEX sources_queue_idx');
    await knex.raw(`CREATE INDEX sources_queue_idx ON sources (created_at) WHERE status IN ('PENDING', 'PROCESSING')`);
    await knex.schema.alterTable('sources', (t) => {
      t.dropColumn('available_at');
    });
  },
};
