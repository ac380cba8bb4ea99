import { hashPassword } from '../../auth/passwords';
import type { Db } from '../../platform/postgres/connection';
import { newId } from '../../core/ids';
import type { Logger } from '../../core/logger';
import { DEMO_BOTS, DEMO_OWNER } from './demo-content';

/**
 * Creates the demo owner with three bots and their TEXT sources (left PENDING for the
 * worker to ingest). Idempotent: bots that already exist, by public key, are left alone.
 */
export async function seedDemo(db: Db, log: Logger): Promise<void> {
  await db.transaction(async (trx) => {
    let owner = await trx('users').where({ email: DEMO_OWNER.email }).first('id');
    if (!owner) {
      [owner] = await trx('users')
        .insert({
          id: newId(),
          email: DEMO_OWNER.email,
          name: DEMO_OWNER.name,
          password_hash: await hashPassword(DEMO_OWNER.password),
        })
        .returning('id');
    }
    for (const bot of DEMO_BOTS) {
      if (await trx('bots').where({ public_key: bot.publicKey }).first('id')) continue;
      const botId = newId();
      await trx('bots').insert({
        id: botId,
        owner_id: owner.id,
        name: bot.name,
        description: bot.description,
        instructions: bot.instructions,
        public_key: bot.publicKey,
      });
      await trx('sources').insert(
        bot.sources.map((source) => ({
          id: newId(),
          bot_id: botId,
          kind: 'TEXT',
          title: source.title,
          content: source.text,
          content_format: 'text',
        })),
      );
      log.info({ bot: bot.name, publicKey: bot.publicKey, sources: bot.sources.length }, 'demo bot created');
    }
  });
  log.info({ email: DEMO_OWNER.email, password: DEMO_OWNER.password }, 'demo owner ready');
}
