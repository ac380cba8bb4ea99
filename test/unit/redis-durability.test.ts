import { assessDurability, type DurabilitySettings } from '../../src/platform/redis/durability';

const safe: DurabilitySettings = { maxmemoryPolicy: 'noeviction', appendonly: 'yes', appendfsync: 'everysec' };
const warnings = (settings: DurabilitySettings) =>
  assessDurability(settings).filter((finding) => finding.level === 'warn');

describe('assessDurability', () => {
  it('finds nothing wrong with noeviction and AOF fsynced every second, and says what everysec can lose', () => {
    const findings = assessDurability(safe);
    expect(warnings(safe)).toEqual([]);
    expect(findings).toEqual([{ level: 'info', setting: 'appendfsync', message: expect.any(String) }]);
    expect(findings[0]!.message).toMatch(/about a second/);
    expect(findings[0]!.message).toMatch(/OS crash or power loss/);
    expect(findings[0]!.message).toMatch(/Redis process alone loses none/);
  });

  it('says appendfsync always loses nothing', () => {
    const findings = assessDurability({ ...safe, appendfsync: 'always' });
    expect(findings).toEqual([{ level: 'info', setting: 'appendfsync', message: expect.stringMatching(/no .*lost/) }]);
  });

  it('warns that appendfsync no leaves it to the OS', () => {
    expect(warnings({ ...safe, appendfsync: 'no' })).toEqual([
      { level: 'warn', setting: 'appendfsync', message: expect.stringMatching(/the OS decides/) },
    ]);
  });

  it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])(
    'warns that %s may evict acknowledged intents',
    (policy) => {
      expect(warnings({ ...safe, maxmemoryPolicy: policy })).toEqual([
        {
          level: 'warn',
          setting: 'maxmemory-policy',
          message: expect.stringMatching(new RegExp(`${policy}, not noeviction.*acknowledged intents`)),
        },
      ]);
    },
  );

  it.each(['volatile-lru', 'volatile-ttl'])('warns that %s evicts the buffer keys that expire', (policy) => {
    expect(warnings({ ...safe, maxmemoryPolicy: policy })).toEqual([
      {
        level: 'warn',
        setting: 'maxmemory-policy',
        message: expect.stringMatching(/not noeviction.*keys with a TTL.*idempotency/),
      },
    ]);
  });

  it('warns that without AOF a restart loses every queued intent, and says nothing of appendfsync then', () => {
    const findings = assessDurability({ ...safe, appendonly: 'no' });
    expect(findings).toEqual([
      { level: 'warn', setting: 'appendonly', message: expect.stringMatching(/restart loses every queued intent/) },
    ]);
  });

  it('warns once per problem, each on its own', () => {
    const found = warnings({ maxmemoryPolicy: 'allkeys-lru', appendonly: 'no', appendfsync: 'everysec' });
    expect(found.map((finding) => finding.setting)).toEqual(['maxmemory-policy', 'appendonly']);
  });

  it('warns that durability is unverified when CONFIG was refused, and nothing else', () => {
    const findings = assessDurability({ maxmemoryPolicy: null, appendonly: null, appendfsync: null });
    expect(findings).toEqual([
      {
        level: 'warn',
        setting: 'config',
        message: expect.stringMatching(/maxmemory-policy, appendonly, appendfsync .*unverified/),
      },
    ]);
  });

  it('names only the settings it could not read', () => {
    const findings = assessDurability({ ...safe, appendfsync: null });
    expect(findings).toEqual([
      { level: 'warn', setting: 'config', message: expect.stringMatching(/Could not read Redis' appendfsync \(/) },
    ]);
    // Without AOF, the fsync policy does not matter: not knowing it is no gap.
    expect(assessDurability({ ...safe, appendonly: 'no', appendfsync: null }).map((f) => f.setting)).toEqual([
      'appendonly',
    ]);
  });
});
