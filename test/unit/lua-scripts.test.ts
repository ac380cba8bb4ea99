import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LUA_DIR, readScripts, SCRIPT_NAMES } from '../../src/platform/redis/scripts';

describe('Lua scripts (src/platform/redis/lua)', () => {
  const scripts = readScripts();

  it('are all there, each with its includes in place', () => {
    expect([...scripts.keys()].sort()).toEqual([...SCRIPT_NAMES].sort());
    for (const script of scripts.values()) expect(script.source).not.toContain('@include');
    expect(scripts.get('bufferClaim')!.source).toContain('local function redisNowMillis()');
  });

  it('each name the KEYS, ARGV and return value in their header, and take as many keys as their file name says', () => {
    for (const script of scripts.values()) {
      const lines = script.source.split('\n');
      const header = lines
        .slice(lines[0]!.startsWith('#!') ? 1 : 0)
        .filter((line, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('--')));
      expect({ script: script.name, header: header.join('\n') }).toEqual({
        script: script.name,
        header: expect.stringMatching(/KEYS\[1\][\s\S]*ARGV\[1\][\s\S]*returns /),
      });
      const highestKey = Math.max(...[...script.source.matchAll(/KEYS\[(\d+)\]/g)].map((match) => Number(match[1])));
      if (script.numberOfKeys !== null)
        expect({ script: script.name, keys: highestKey }).toEqual({ script: script.name, keys: script.numberOfKeys });
    }
  });

  it('carry allow-oom exactly where the buffer must drain a full Redis', () => {
    const flagged = [...scripts.values()].filter((script) => script.source.startsWith('#!lua flags=allow-oom\n'));
    expect(flagged.map((script) => script.name).sort()).toEqual(
      ['bufferAck', 'bufferClaim', 'bufferDrop', 'bufferRenew', 'bufferRequeue', 'bufferReturn'].sort(),
    );
  });

  describe('a folder that does not match the list', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'parley-lua-'));
      mkdirSync(join(dir, 'includes'));
      for (const file of ['buffer-push-4.lua', 'invalidate-2.lua']) {
        writeFileSync(join(dir, file), readFileSync(join(LUA_DIR, file)));
      }
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('names the scripts missing from it', () => {
      expect(() => readScripts(dir)).toThrow(/Lua scripts missing from .*: bufferClaim, /);
    });

    it('names a file it does not expect', () => {
      writeFileSync(join(dir, 'stray.lua'), 'return 1\n');
      expect(() => readScripts(dir)).toThrow(/Unexpected Lua script .*stray\.lua/);
    });
  });
});
