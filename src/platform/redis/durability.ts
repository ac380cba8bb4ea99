import type { RedisClient } from './connection';
import type { Logger } from '../../core/logger';

/** The Redis settings that decide whether an acknowledged send can be lost before a worker stores it. */
export interface DurabilitySettings {
  /** null when Redis would not say (CONFIG refused, as managed services often do). */
  maxmemoryPolicy: string | null;
  appendonly: string | null;
  appendfsync: string | null;
}

export interface BufferDurability extends DurabilitySettings {
  /** What can lose acknowledged intents (or could not be checked), one sentence each; logged as warnings. */
  problems: string[];
}

export interface DurabilityFinding {
  level: 'warn' | 'info';
  setting: 'maxmemory-policy' | 'appendonly' | 'appendfsync' | 'config';
  message: string;
}

/**
 * What the settings mean for the write buffer. An acknowledged send lives only in Redis
 * until a worker flushes it, so whatever Redis may drop is a lost message the sender was
 * told was taken. Pure: the caller reads the settings and logs the findings.
 */
export function assessDurability(settings: DurabilitySettings): DurabilityFinding[] {
  const { maxmemoryPolicy: policy, appendonly, appendfsync } = settings;
  const findings: DurabilityFinding[] = [];

  const unknown = (
    [
      ['maxmemory-policy', policy],
      ['appendonly', appendonly],
      // Without AOF, appendfsync changes nothing: not knowing it is no gap.
      ['appendfsync', appendonly === 'no' ? '' : appendfsync],
    ] as const
  )
    .filter(([, value]) => value === null)
    .map(([name]) => name);
  if (unknown.length > 0) {
    findings.push({
      level: 'warn',
      setting: 'config',
      message:
        `Could not read Redis' ${unknown.join(', ')} (CONFIG refused?): the write buffer's durability is unverified. ` +
        'Make sure its Redis runs with maxmemory-policy noeviction and appendonly yes.',
    });
  }

  if (policy !== null && policy !== 'noeviction') {
    findings.push({
      level: 'warn',
      setting: 'maxmemory-policy',
      message: policy.startsWith('volatile-')
        ? // The pending list has no TTL, so volatile-* spares it; the keys beside it do not.
          `maxmemory-policy is ${policy}, not noeviction: at maxmemory Redis evicts keys with a TTL, among them the ` +
          "write buffer's idempotency keys and the conversation copies reads show before a flush."
        : `maxmemory-policy is ${policy}, not noeviction: at maxmemory Redis may evict the write buffer's keys, ` +
          'losing acknowledged intents. With noeviction a full Redis refuses the push and the send goes to PostgreSQL.',
    });
  }

  if (appendonly === 'no') {
    findings.push({
      level: 'warn',
      setting: 'appendonly',
      message:
        'appendonly is no: a Redis restart loses every queued intent (acknowledged, not yet in PostgreSQL), or ' +
        'everything since the last RDB snapshot. Set appendonly yes.',
    });
  } else if (appendonly !== null) {
    // AOF on: what the fsync policy leaves exposed is an OS crash or power loss. A crash of
    // the Redis process alone loses nothing, since the write is in the page cache before the reply.
    if (appendfsync === 'everysec') {
      findings.push({
        level: 'info',
        setting: 'appendfsync',
        message:
          'appendfsync is everysec: an OS crash or power loss can lose up to about a second of acknowledged ' +
          'intents; a crash of the Redis process alone loses none. appendfsync always loses none.',
      });
    } else if (appendfsync === 'always') {
      findings.push({
        level: 'info',
        setting: 'appendfsync',
        message: 'appendfsync is always: no acknowledged intent is lost, even on an OS crash or power loss.',
      });
    } else if (appendfsync !== null) {
      findings.push({
        level: 'warn',
        setting: 'appendfsync',
        message:
          `appendfsync is ${appendfsync}: the OS decides when the AOF reaches the disk (often every 30 s on Linux), ` +
          'so an OS crash or power loss can lose that much of acknowledged intents. Use everysec or always.',
      });
    }
  }
  return findings;
}

/** One setting by CONFIG GET: the value, or null when Redis has none by that name. */
async function configGet(redis: RedisClient, name: string): Promise<string | null> {
  const pair = (await redis.config('GET', name)) as unknown;
  return Array.isArray(pair) && typeof pair[1] === 'string' ? pair[1] : null;
}

/**
 * Reads the buffer's Redis settings at start-up and logs what they put at risk, one line
 * each. Never throws: a Redis that refuses CONFIG (managed services) is reported as
 * unverified, not as a failed start-up.
 */
export async function checkBufferDurability(redis: RedisClient, log: Logger): Promise<BufferDurability> {
  let settings: DurabilitySettings;
  let refusal: unknown;
  try {
    const [maxmemoryPolicy, appendonly, appendfsync] = await Promise.all(
      ['maxmemory-policy', 'appendonly', 'appendfsync'].map((name) => configGet(redis, name)),
    );
    settings = {
      maxmemoryPolicy: maxmemoryPolicy ?? null,
      appendonly: appendonly ?? null,
      appendfsync: appendfsync ?? null,
    };
  } catch (error: unknown) {
    refusal = error;
    settings = { maxmemoryPolicy: null, appendonly: null, appendfsync: null };
  }
  const findings = assessDurability(settings);
  for (const finding of findings) {
    const fields = {
      setting: finding.setting,
      ...(finding.setting === 'config' && refusal !== undefined ? { err: refusal } : {}),
      ...settings,
    };
    if (finding.level === 'warn') log.warn(fields, finding.message);
    else log.info(fields, finding.message);
  }
  return {
    ...settings,
    problems: findings.filter((finding) => finding.level === 'warn').map((finding) => finding.message),
  };
}
