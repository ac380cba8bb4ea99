import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Derives a `keyBytes`-long key; where it runs (libuv's pool, threads of our own) is the caller's choice. */
export type Scrypt = (password: string, salt: Buffer, params: ScryptParams, keyBytes: number) => Promise<Buffer>;

/**
 * scrypt with OWASP's recommended cost (N=2^17, r=8, p=1: 128 MiB per hash).
 * The parameters are stored with each hash so the cost can be raised later
 * without invalidating existing passwords.
 */
const PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

/** scrypt needs 128 * N * r bytes; twice that leaves room for OpenSSL's own. */
export const scryptMaxmem = (params: ScryptParams): number => 256 * params.N * params.r;

/**
 * Node's scrypt on libuv's thread pool: fine for a one-off script (seeding), where nothing
 * else waits on that pool. The api hashes on threads of its own (`createScryptPool`).
 */
export const libuvScrypt: Scrypt = (password, salt, params, keyBytes) =>
  new Promise((resolve, reject) => {
    scryptCallback(password, salt, keyBytes, { ...params, maxmem: scryptMaxmem(params) }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });

export async function hashPassword(password: string, scrypt: Scrypt = libuvScrypt): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, PARAMS, KEY_BYTES);
  return `scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string, scrypt: Scrypt = libuvScrypt): Promise<boolean> {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(stored);
  if (!match) return false;
  const [, n, r, p, salt, key] = match as unknown as [string, string, string, string, string, string];
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(
    password,
    Buffer.from(salt, 'base64'),
    { N: Number(n), r: Number(r), p: Number(p) },
    KEY_BYTES,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
