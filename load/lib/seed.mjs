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
