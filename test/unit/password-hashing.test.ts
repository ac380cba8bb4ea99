import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createPasswordHashing, hashingConcurrency } from '../../src/auth/password-hashing';
import type { Scrypt } from '../../src/auth/passwords';
import { OverloadedError } from '../../src/core/errors';
import { createLogger } from '../../src/core/logger';

const log = createLogger({ name: 'test', level: 'silent', pretty: false });
const SETTINGS = { concurrency: 1, maxWaiting: 8, maxPerAddress: 2 };

/** A stand-in for scrypt that costs nothing and counts its calls; `fail` makes the next calls reject. */
function countingScrypt() {
  const state = { calls: 0, fail: false };
  const scrypt: Scrypt = async (password, salt, _params, keyBytes) => {
    state.calls++;
    if (state.fail) throw new Error('out of memory');
    return createHash('sha256').update(password).update(salt).digest().subarray(0, keyBytes);
  };
  return { scrypt, state };
}

describe('password hashing', () => {
  it('uses one fewer thread than the cores unless told, and at least one', () => {
    expect(hashingConcurrency({ concurrency: 0 })).toBe(Math.max(1, availableParallelism() - 1));
    expect(hashingConcurrency({ concurrency: 3 })).toBe(3);
  });

  it('checks every password through the queue, an unknown e-mail against a dummy hash made once', async () => {
    const { scrypt, state } = countingScrypt();
    const hashing = createPasswordHashing({ settings: SETTINGS, log, scrypt });
    const starts: string[] = [];
    hashing.queue.onStart((address) => starts.push(address));

    const stored = await hashing.hash('correct horse battery', '203.0.113.1');
    await expect(hashing.verify('correct horse battery', stored, '203.0.113.2')).resolves.toBe(true);
    await expect(hashing.verify('wrong', stored, '203.0.113.2')).resolves.toBe(false);
    expect(state.calls).toBe(3);

    // Unknown e-mails: the first makes the dummy hash and checks against it, later ones only check.
    await expect(hashing.verify('anything', undefined, '203.0.113.3')).resolves.toBe(false);
    await expect(hashing.verify('anything', undefined, '203.0.113.3')).resolves.toBe(false);
    expect(state.calls).toBe(3 + 2 + 1);
    expect(starts).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.2', '203.0.113.3', '203.0.113.3']);
    await hashing.close();
  });

  it('does not keep a dummy hash that failed: the next unknown e-mail makes it again', async () => {
    const { scrypt, state } = countingScrypt();
    const hashing = createPasswordHashing({ settings: SETTINGS, log, scrypt });
    state.fail = true;
    await expect(hashing.verify('anything', undefined, '203.0.113.3')).rejects.toThrow('out of memory');
    state.fail = false;
    await expect(hashing.verify('anything', undefined, '203.0.113.3')).resolves.toBe(false);
    expect(state.calls).toBe(1 + 2);
  });

  it('refuses an address beyond its share of the queue with OVERLOADED', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { scrypt: counting } = countingScrypt();
    const scrypt: Scrypt = async (...args) => {
      await held;
      return counting(...args);
    };
    const hashing = createPasswordHashing({ settings: SETTINGS, log, scrypt });
    const admitted = [hashing.hash('one two three', '203.0.113.1'), hashing.hash('one two three', '203.0.113.1')];
    await expect(hashing.hash('one two three', '203.0.113.1')).rejects.toBeInstanceOf(OverloadedError);
    const other = hashing.hash('one two three', '198.51.100.1');
    release();
    await expect(Promise.all([...admitted, other])).resolves.toHaveLength(3);
    expect(hashing.queue.stats().refused.key_share).toBe(1);
  });
});
