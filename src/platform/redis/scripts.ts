import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCluster, type RedisClient } from './connection';

/**
 * Every Lua script of Parley, one file each in `lua/`, as BullMQ keeps its commands:
 *
 * - `<name>-<n>.lua` takes n KEYS; `<name>.lua` a number the caller passes first.
 * - Each opens with a header naming its KEYS, ARGV and return value.
 * - A line `--- @include "<file>"` takes in `lua/includes/<file>.lua`, a snippet shared by
 *   several scripts (Redis' clock in ms).
 * - Redis 7 flags go in a first-line shebang. `#!lua flags=allow-oom` lets a script run while
 *   Redis is at `maxmemory` (noeviction), where Redis otherwise refuses a script whose first
 *   write may grow memory (ZADD, LMOVE, LPUSH, HSET…) even when the script as a whole only
 *   moves or deletes: a full Redis refused the claim, and acknowledged sends stayed queued until
 *   someone freed memory. The buffer's scripts that drain it (claim, renew, ack, requeue,
 *   return) and the one that only deletes (drop) carry it; each keeps memory level or shrinks
 *   it. Push does not: a full Redis must refuse new sends, which then go to PostgreSQL directly.
 *   Dead-letter and replay grow memory by one entry and do not; as their first write deletes,
 *   Redis still lets them run, so a poison intent does not block a full buffer. With a shebang,
 *   every key a script touches must come in KEYS (ours do).
 *
 * The files are read once, when this module loads (the build copies `lua/` beside the compiled
 * code); `loadScripts` sends them to Redis at start-up, so one that does not compile stops
 * start-up instead of failing its first request.
 */
export const SCRIPT_NAMES = [
  'bufferPush',
  'bufferClaim',
  'bufferRenew',
  'bufferAck',
  'bufferRequeue',
  'bufferDeadLetter',
  'bufferReturn',
  'bufferReplay',
  'bufferDrop',
  'bufferStats',
  'setIfGeneration',
  'invalidate',
  'vectorGet',
  'vectorSet',
  'vectorBump',
  'vectorCount',
  'slidingWindowHit',
  'slidingWindowUndo',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface LuaScript {
  name: ScriptName;
  /** null: the caller passes the number of keys as the first argument. */
  numberOfKeys: number | null;
  /** What Redis receives: the file with its includes in place. */
  source: string;
}

export const LUA_DIR = join(__dirname, 'lua');
const INCLUDE = /^--- @include "([\w-]+)"$/gm;
const FILE_NAME = /^([a-z][a-z-]*?)(?:-(\d+))?\.lua$/;

const camelCase = (kebab: string) => kebab.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** Reads and assembles every script in `dir`; throws on a file it does not expect, or a missing one. */
export function readScripts(dir = LUA_DIR): Map<ScriptName, LuaScript> {
  const scripts = new Map<ScriptName, LuaScript>();
  for (const file of readdirSync(dir).filter((entry) => entry.endsWith('.lua'))) {
    const match = FILE_NAME.exec(file);
    const name = match && camelCase(match[1]!);
    if (!match || !SCRIPT_NAMES.includes(name as ScriptName)) {
      throw new Error(
        `Unexpected Lua script ${join(dir, file)}: name it <script>-<number of keys>.lua and list it in SCRIPT_NAMES`,
      );
    }
    const source = readFileSync(join(dir, file), 'utf8').replace(INCLUDE, (_, include: string) =>
      readFileSync(join(dir, 'includes', `${include}.lua`), 'utf8').trimEnd(),
    );
    scripts.set(name as ScriptName, {
      name: name as ScriptName,
      numberOfKeys: match[2] ? Number(match[2]) : null,
      source,
    });
  }
  const missing = SCRIPT_NAMES.filter((name) => !scripts.has(name));
  if (missing.length > 0) throw new Error(`Lua scripts missing from ${dir}: ${missing.join(', ')}`);
  return scripts;
}

const SCRIPTS = readScripts();

type Arg = string | number;
export type Scripts = Record<ScriptName, (...args: Arg[]) => Promise<unknown>>;

/** The name a script is registered under on a connection: apart from every Redis command's. */
const commandName = (name: ScriptName) => `parley${name[0]!.toUpperCase()}${name.slice(1)}`;

/**
 * Registers every script on `redis` (once per connection) and returns callers by name. ioredis
 * sends EVALSHA, and EVAL once when Redis does not know the script.
 */
export function defineScripts(redis: RedisClient): Scripts {
  const commands = redis as unknown as Record<string, ((...args: Arg[]) => Promise<unknown>) | undefined>;
  for (const script of SCRIPTS.values()) {
    const name = commandName(script.name);
    if (commands[name]) continue;
    redis.defineCommand(name, {
      lua: script.source,
      ...(script.numberOfKeys === null ? {} : { numberOfKeys: script.numberOfKeys }),
    });
    // A cluster client batches auto-pipelined commands per node by their first argument, which
    // for a script called with its key count first is that count, not a key: such a call would
    // join the wrong node's batch and fail it whole ("All keys in the pipeline should belong to
    // the same slots allocation group"), taking the rate limiter's and others' calls with it. Sent
    // on its own, the client routes it by its keys.
    const unbatched = isCluster(redis) && script.numberOfKeys === null && redis.options.autoPipeliningIgnoredCommands;
    if (unbatched && !unbatched.includes(name)) unbatched.push(name);
  }
  return Object.fromEntries(
    SCRIPT_NAMES.map((name) => [name, (...args: Arg[]) => commands[commandName(name)]!(...args)]),
  ) as Scripts;
}

/** Sends every script to Redis (SCRIPT LOAD): at start-up, so one that does not compile stops it. */
export async function loadScripts(redis: RedisClient): Promise<void> {
  // Each node has a script cache of its own: on a cluster, every master gets them.
  for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
    for (const script of SCRIPTS.values()) {
      try {
        await node.script('LOAD', script.source);
      } catch (error: unknown) {
        throw new Error(`Redis refused the Lua script ${script.name}: ${(error as Error).message}`, { cause: error });
      }
    }
  }
}
