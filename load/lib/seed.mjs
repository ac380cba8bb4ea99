// What every benchmark runs against: one owner and their bots, each with three TEXT sources, ingested.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gql, sleep, stop, waitHttp } from './harness.mjs';
import { TOPICS } from './workload.mjs';

/**
 * Seeds the harness' fresh database through `dist` (a rollback-mode api and worker on `port` and
 * `port + 1`): one owner, `bots` bots with three TEXT sources each, ingested (READY). The
 * password and the token stay in this process: nothing secret goes to a report.
 */
export async function seedOwner(h, dist, { bots, port, name }) {
  await h.createDatabase();
  const origin = `http://127.0.0.1:${port}`;
  const api = h.start('seed-api', process.execPath, [join(dist, 'src/main.js')], h.parleyEnv(port), 'seed-api');
  const worker = h.start(
    'seed-worker',
    process.execPath,
    [join(dist, 'worker/main.js')],
    { ...h.parleyEnv(port + 1), INGEST_CONCURRENCY: '4', INGEST_POLL_MILLIS: '200' },
    'seed-worker',
  );
  await waitHttp(`${origin}/health/db`, api);
  const email = `${name}-${h.stamp.toLowerCase()}@example.com`;
  const password = `Bench-${randomBytes(12).toString('hex')}`;
  const { signUp } = await gql(origin, 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }', {
    i: { email, password, name: 'Bench Owner' },
  });
  const botIds = [];
  for (let i = 0; i < bots; i++) {
    const { createBot } = await gql(
      origin,
      'mutation($i: CreateBotInput!) { createBot(input: $i) { id } }',
      { i: { name: `Bench bot ${i + 1}`, description: `Bot ${i + 1} of the benchmark` } },
      signUp.token,
    );
    botIds.push(createBot.id);
    await Promise.all(
      TOPICS.map((text, k) =>
        gql(
          origin,
          'mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }',
          { i: { botId: createBot.id, kind: 'TEXT', title: `Source ${k + 1}`, text } },
          signUp.token,
        ),
      ),
    );
  }
  const db = await h.probe();
  for (let i = 0; ; i++) {
    const rows = await db.query('SELECT status, count(*)::int AS n FROM sources GROUP BY status');
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    if ((by.READY ?? 0) === botIds.length * TOPICS.length) break;
    if (by.FAILED || i > 1200) throw new Error(`ingestion did not finish: ${JSON.stringify(by)}`);
    await sleep(100);
  }
  await db.end();
  await stop(worker);
  await stop(api);
  h.log(`seeded ${botIds.length} bots with ${botIds.length * TOPICS.length} sources for ${email}`);
  return { email, password, postgresToken: signUp.token, botIds };
}

/**
 * Gives `owner` `total` bots in all, the ones past those seeded copied in SQL from the first
 * (its three sources, READY, with their chunks and embeddings): a working set larger than the
 * apis' caches, seeded in seconds rather than by thousands of ingests. The copies are what the
 * API would have stored for the same input. Returns `owner` with every bot's id.
 */
export async function cloneBots(h, owner, total) {
  const more = total - owner.botIds.length;
  if (more <= 0) return owner;
  const db = await h.probe();
  try {
    await db.query('BEGIN');
    await db.query(
      `CREATE TEMP TABLE bot_copies ON COMMIT DROP AS
       SELECT gen_random_uuid() AS id, n FROM generate_series($1::int, $2::int) AS n`,
      [owner.botIds.length + 1, total],
    );
    await db.query(
      `INSERT INTO bots (id, owner_id, name, description, public_key)
       SELECT c.id, b.owner_id, 'Bench bot ' || c.n, 'Bot ' || c.n || ' of the benchmark',
              'pk_bench_' || replace(c.id::text, '-', '')
       FROM bot_copies c CROSS JOIN bots b WHERE b.id = $1`,
      [owner.botIds[0]],
    );
    await db.query(
      `CREATE TEMP TABLE source_copies ON COMMIT DROP AS
       SELECT c.id AS bot_id, s.id AS from_id, gen_random_uuid() AS id
       FROM bot_copies c CROSS JOIN sources s WHERE s.bot_id = $1`,
      [owner.botIds[0]],
    );
    await db.query(
      `INSERT INTO sources (id, bot_id, kind, title, status, chunk_count, content, content_format, created_at)
       SELECT sc.id, sc.bot_id, s.kind, s.title, s.status, s.chunk_count, s.content, s.content_format, s.created_at
       FROM source_copies sc JOIN sources s ON s.id = sc.from_id`,
    );
    await db.query(
      `INSERT INTO source_chunks (source_id, bot_id, ordinal, content, embedding)
       SELECT sc.id, sc.bot_id, k.ordinal, k.content, k.embedding
       FROM source_copies sc JOIN source_chunks k ON k.source_id = sc.from_id`,
    );
    const copies = await db.query('SELECT id FROM bot_copies ORDER BY n');
    await db.query('COMMIT');
    await db.query('VACUUM ANALYZE');
    h.log(`copied ${copies.length} bots (sources and chunks) for ${owner.email}: ${total} in all`);
    return { ...owner, botIds: [...owner.botIds, ...copies.map((row) => row.id)] };
  } finally {
    await db.end();
  }
}
