import type { Knex } from 'knex';

/**
 * Ingestion leases get an owner token, so a worker whose lease expired (and whose source
 * another worker has since claimed) cannot complete or fail it; and plans are the two the
 * product sells, FREE and ENTERPRISE (the rate limits read them).
 */
export const leasesAndPlans = {
  async up(knex: Knex): Promise<void> {
    await knex.schema.alterTable('sources', (t) => {
      t.uuid('lease_token');
    });
    // No account could ever be put on PRO; any that were are treated as FREE.
    await knex('users').where({ plan: 'PRO' }).update({ plan: 'FREE' });
    await knex.raw('ALTER TABLE users DROP CONSTRAINT users_plan_check');
    await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_plan_check CHECK (plan IN ('FREE', 'ENTERPRISE'))`);
  },

  async down(knex: Knex): Promise<void> {
    await knex.raw('ALTER TABLE users DROP CONSTRAINT users_plan_check');
    await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_plan_check CHECK (plan IN ('FREE', 'PRO', 'ENTERPRISE'))`);
    await knex.schema.alterTable('sources', (t) => {
      t.dropColumn('lease_token');
    });
  },
};
