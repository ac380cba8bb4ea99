import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/core/logger';
import { closeRedis, connectRedis, createRedis, type RedisClient } from '../../src/platform/redis/connection';
import { bufferKeysOf } from '../helpers/buffer';
import { startRedisServer, stopRedisServers, type TestRedisServer } from '../helpers/redis-server';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { createBot, eventually, signUpOwner, startTestApp, type TestApp } from '../helpers/test-app';

const SEND = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id status } reply { id status } }
}`;

/**
 * BUFFER_MIN_REPLICAS: a send is acknowledged from the buffer only once a replica holds its
 * intent (Redis WAIT); when none does in time, it is written straight to PostgreSQL, and the
 * flush later stores nothing twice. A master and a replica of this file's own.
 */
describe('write buffer acknowledgements that wait for a replica', () => {
  let master: TestRedisServer;
  let replica: TestRedisServer;
  /** Reads on the replica (it has no keys of its own to delete: the app's go with the master's). */
  let replicaProbe: RedisClient;
  let app: TestApp;
  let owner: { token: string };
  let bot: { id: string };

  beforeAll(async () => {
    master = await startRedisServer({ appendonly: true });
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    const settings = loadConfig({ REDIS_ENABLED: 'true', REDIS_URL: replica.url }).redis;
    replicaProbe = createRedis(settings, createLogger({ name: 'test', level: 'silent', pretty: false }));
    await connectRedis(replicaProbe, settings);
    await eventually(async () => /master_link_status:up/.test(await replicaProbe.info('replication')));
    app = await startTestApp(
      {
        REDIS_ENABLED: 'true',
        REDIS_URL: master.url,
        BUFFER_MIN_REPLICAS: '1',
        // Long enough for a live replica on a busy machine; a dead one answers nothing anyway.
        BUFFER_REPLICA_TIMEOUT_MILLIS: '2000',
      },
      { flusher: false },
    );
    owner = await signUpOwner(app, 'replicated-owner');
    bot = await createBot(app, owner.token, 'Replicated bot');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    if (replicaProbe) await closeRedis(replicaProbe);
    await stopRedisServers();
  });

  const queued = async (redis: RedisClient) =>
    (await Promise.all(bufferKeysOf(app.config).all.map((shard) => redis.hlen(shard.queued())))).reduce(
      (sum, n) => sum + n,
      0,
    );
  const send = (text: string, clientMessageId: string) =>
    app.gql(SEND, { input: { botId: bot.id, text, clientMessageId } }, owner.token);

  it('acknowledges QUEUED only once the replica holds the intent', async () => {
    const sent = await send('Are you open on Sunday?', 'replicated-1');
    expect(sent.data!.sendMessage.message.status).toBe('QUEUED');
    // Read on the replica right after the answer: WAIT returned once it had the write.
    // The queued index holds the message and its reply.
    expect(await queued(replicaProbe)).toBe(2);
    const flusher = app.startFlusher();
    await app.drained();
    await flusher.stop();
    expect(await app.deps.db('messages').where({ id: sent.data!.sendMessage.message.id })).toHaveLength(1);
  });

  it('writes the send straight to PostgreSQL when no replica takes it, and the flush stores nothing twice', async () => {
    await replica.kill();
    const sent = await send('Do you deliver?', 'replicated-2');
    expect(sent.errors).toBeUndefined();
    const { message, reply } = sent.data!.sendMessage;
    // Stored before the answer: the direct path's status.
    expect([message.status, reply.status]).toEqual(['PERSISTED', 'PERSISTED']);
    expect(await app.deps.db('messages').whereIn('id', [message.id, reply.id])).toHaveLength(2);
    // The intent the buffer took is flushed later: found stored, dropped, nothing doubled.
    const flusher = app.startFlusher();
    await app.drained();
    await flusher.stop();
    expect(await app.deps.db('messages').where({ client_message_id: 'replicated-2' })).toHaveLength(1);
    expect(await app.deps.db('messages').whereIn('id', [message.id, reply.id])).toHaveLength(2);
    // A retry gets the stored answer.
    const retry = await send('Do you deliver?', 'replicated-2');
    expect(retry.data!.sendMessage.message).toEqual({ id: message.id, status: 'PERSISTED' });
  });
});

/**
 * A master cut off from its replica while it still serves clients, then lost, its replica
 * promoted: what acknowledged sends survive. A SIGKILL alone cannot show it on loopback (the
 * replication stream is already in the socket); the cut can.
 */
describe('a master partitioned from its replica, then lost', () => {
  afterEach(() => stopRedisServers());

  async function partitionThenFailover(minReplicas: number) {
    const master = await startRedisServer({ appendonly: true });
    // The replica reaches its master through a proxy this test can cut: a network partition.
    const link = await startTcpProxy('127.0.0.1', master.port);
    const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(link.port)] });
    const settings = loadConfig({ REDIS_ENABLED: 'true', REDIS_URL: replica.url }).redis;
    const replicaProbe = createRedis(settings, createLogger({ name: 'test', level: 'silent', pretty: false }));
    await connectRedis(replicaProbe, settings);
    const app = await startTestApp(
      {
        REDIS_ENABLED: 'true',
        REDIS_URL: master.url,
        BUFFER_MIN_REPLICAS: String(minReplicas),
        BUFFER_REPLICA_TIMEOUT_MILLIS: '200',
      },
      { flusher: false },
    );
    try {
      await eventually(async () => /master_link_status:up/.test(await replicaProbe.info('replication')));
      const owner = await signUpOwner(app, `partition-${minReplicas}`);
      const bot = await createBot(app, owner.token, 'Partitioned bot');
      link.cut();
      await eventually(async () => /connected_slaves:0/.test(await app.deps.clients.redis!.info('replication')));
      const acknowledged: { id: string; status: string }[] = [];
      for (let i = 0; i < 5; i++) {
        const sent = await app.gql(
          SEND,
          { input: { botId: bot.id, text: `Question ${i}`, clientMessageId: `partition-${i}` } },
          owner.token,
        );
        expect(sent.errors).toBeUndefined();
        acknowledged.push(sent.data!.sendMessage.message);
      }
      // The master is lost; its replica, cut off since, becomes the master.
      await master.kill();
      await replicaProbe.call('REPLICAOF', 'NO', 'ONE');
      const ids = acknowledged.map((message) => message.id);
      const inPostgres = (await app.deps.db('messages').whereIn('id', ids)).length;
      const keys = bufferKeysOf(app.config);
      const onNewMaster = (await Promise.all(ids.map((id) => replicaProbe.hget(keys.of(id).queued(), id)))).filter(
        Boolean,
      ).length;
      return { statuses: acknowledged.map((message) => message.status), lost: ids.length - inPostgres - onNewMaster };
    } finally {
      await closeRedis(replicaProbe);
      await link.close();
      // Its Redis is gone: the app's own keys went with it.
      await app.close().catch(() => undefined);
    }
  }

  it('loses no acknowledged send with BUFFER_MIN_REPLICAS=1: each went to PostgreSQL once the replica did not confirm', async () => {
    expect(await partitionThenFailover(1)).toEqual({ statuses: Array(5).fill('PERSISTED'), lost: 0 });
  }, 60_000);

  it('loses every send acknowledged since the cut with BUFFER_MIN_REPLICAS=0', async () => {
    expect(await partitionThenFailover(0)).toEqual({ statuses: Array(5).fill('QUEUED'), lost: 5 });
  }, 60_000);
});
