// One auto-pipelined ioredis connection against small pools, for the cache's read pattern:
// 100 concurrent callers, each issuing MGETs of 20 keys (a DataLoader batch of values and
// their generations) as fast as it can. Rounds alternate between the set-ups so the noise of
// a shared 2-core machine falls on all of them alike.
//
//   node load/redis-pool/bench.mjs [--url redis://127.0.0.1:6379] [--seconds 5] [--rounds 3]
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { Redis } = require('ioredis');

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '100' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const prefix = `parley-bench:${randomBytes(4).toString('hex')}:`;
const KEYS = 2000;
const BATCH = 20;

const setups = [
  { name: '1 connection, auto-pipelining', size: 1, autoPipelining: true },
  { name: 'pool of 4, auto-pipelining', size: 4, autoPipelining: true },
  { name: 'pool of 10, no pipelining', size: 10, autoPipelining: false },
];

async function connect(setup) {
  const clients = Array.from(
    { length: setup.size },
    () => new Redis(values.url, { enableAutoPipelining: setup.autoPipelining, lazyConnect: true }),
  );
  await Promise.all(clients.map((client) => client.connect()));
  let next = 0;
  return { pick: () => clients[next++ % clients.length], close: () => Promise.all(clients.map((c) => c.quit())) };
}

async function run(setup) {
  const pool = await connect(setup);
  const deadline = Date.now() + seconds * 1000;
  let batches = 0;
  const latencies = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const start = Math.floor(Math.random() * (KEYS - BATCH));
        const keys = Array.from({ length: BATCH }, (_, i) => `${prefix}k${start + i}`);
        const began = performance.now();
        await pool.pick().mget(...keys);
        latencies.push(performance.now() - began);
        batches++;
      }
    }),
  );
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: batches / seconds, p95: latencies[Math.floor(latencies.length * 0.95)] };
}

const seeder = new Redis(values.url);
const pipeline = seeder.pipeline();
for (let i = 0; i < KEYS; i++) pipeline.set(`${prefix}k${i}`, JSON.stringify({ id: i, name: `bot ${i}` }), 'EX', 600);
await pipeline.exec();

const totals = new Map(setups.map((setup) => [setup.name, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const setup of setups) totals.get(setup.name).push(await run(setup));
}
let cursor = '0';
do {
  const [next, keys] = await seeder.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
  cursor = next;
  if (keys.length > 0) await seeder.unlink(...keys);
} while (cursor !== '0');
await seeder.quit();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(totals.get(setups[0].name).map((r) => r.perSecond));
console.log(
  `MGET of ${BATCH} keys, ${concurrency} concurrent callers, ${values.rounds} rounds of ${seconds} s (median):`,
);
for (const setup of setups) {
  const runs = totals.get(setup.name);
  const perSecond = median(runs.map((r) => r.perSecond));
  console.log(
    `  ${setup.name.padEnd(32)} ${Math.round(perSecond).toString().padStart(7)} batches/s  ` +
      `p95 ${median(runs.map((r) => r.p95)).toFixed(2)} ms  ${(perSecond / base).toFixed(2)}x`,
  );
}
