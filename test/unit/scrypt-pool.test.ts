import { randomBytes, scryptSync } from 'node:crypto';
import { hashPassword, libuvScrypt, verifyPassword } from '../../src/auth/passwords';
import { createScryptPool, ScryptPoolError, type ScryptPool } from '../../src/auth/scrypt-pool';
import { holdLibuvPool, type LibuvPoolHold } from '../helpers/libuv-pool';

/** Cheap parameters where the cost does not matter to the test. */
const CHEAP = { N: 1024, r: 8, p: 1 };

describe('scrypt pool', () => {
  let pool: ScryptPool;
  let hold: LibuvPoolHold | undefined;
  afterEach(async () => {
    await hold?.release();
    hold = undefined;
    await pool.close();
  });

  it('derives the same keys as node, on no more threads than its size', async () => {
    pool = createScryptPool({ size: 2 });
    const salts = Array.from({ length: 5 }, () => randomBytes(16));
    const keys = await Promise.all(salts.map((salt) => pool.scrypt('hunter22', salt, CHEAP, 32)));
    for (const [i, salt] of salts.entries()) {
      expect(keys[i]!.equals(scryptSync('hunter22', salt, 32, CHEAP))).toBe(true);
    }
    expect(pool.threads()).toBe(2);
  });

  it("hashes at full cost while every libuv thread is held, which node's own scrypt cannot", async () => {
    pool = createScryptPool({ size: 1 });
    hold = holdLibuvPool();
    let released = false;
    // Queued behind the held threads: it can only finish after the release.
    const onLibuv = libuvScrypt('x', randomBytes(16), CHEAP, 32).then(() => released);

    const stored = await hashPassword('correct horse battery', pool.scrypt);
    expect(stored).toMatch(/^scrypt\$N=131072,r=8,p=1\$/);
    await expect(verifyPassword('correct horse battery', stored, pool.scrypt)).resolves.toBe(true);

    released = true;
    await hold.release();
    // The hold was real: libuv's scrypt finished only once the threads were let go.
    await expect(onLibuv).resolves.toBe(true);
  });

  it('fails a job with impossible parameters, and the thread goes on serving', async () => {
    pool = createScryptPool({ size: 1 });
    await expect(pool.scrypt('x', randomBytes(16), { N: 1000, r: 8, p: 1 }, 32)).rejects.toThrow(/N|param/i);
    await expect(pool.scrypt('x', randomBytes(16), CHEAP, 32)).resolves.toHaveLength(32);
    expect(pool.threads()).toBe(1);
  });

  it('rejects what it has not finished when it closes, and anything asked after', async () => {
    pool = createScryptPool({ size: 1 });
    const settled = Promise.allSettled([0, 1, 2].map(() => pool.scrypt('x', randomBytes(16), CHEAP, 32)));
    await pool.close();
    const results = await settled;
    // The first may have finished before the close; the ones waiting behind it cannot have.
    expect(results.slice(1).map((result) => result.status)).toEqual(['rejected', 'rejected']);
    await expect(pool.scrypt('x', randomBytes(16), CHEAP, 32)).rejects.toBeInstanceOf(ScryptPoolError);
  });
});
