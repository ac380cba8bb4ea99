import { createHash } from 'node:crypto';
import { loadScripts, readScripts } from '../../src/platform/redis/scripts';
import { connectTestRedis } from '../helpers/redis';

describe('Lua scripts on a real Redis', () => {
  it('all compile: start-up loads each, and Redis then knows them by their SHA-1', async () => {
    const { redis, drop } = await connectTestRedis();
    try {
      await loadScripts(redis);
      const shas = [...readScripts().values()].map((script) => createHash('sha1').update(script.source).digest('hex'));
      expect(await redis.script('EXISTS', ...shas)).toEqual(shas.map(() => 1));
    } finally {
      await drop();
    }
  });
});
