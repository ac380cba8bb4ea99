import type { IncomingMessage } from 'node:http';
import { addressGroup, createClientAddress } from '../../src/http/client-address';

/** A request as Node hands it over: the socket's peer and the headers. */
const request = (remoteAddress: string | undefined, forwardedFor?: string) =>
  ({
    socket: { remoteAddress },
    connection: { remoteAddress },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  }) as unknown as IncomingMessage;

describe('client addresses', () => {
  it('counts IPv4 per address, IPv4-mapped IPv6 as its IPv4, and IPv6 per prefix', () => {
    expect(addressGroup('192.0.2.7', 64)).toBe('192.0.2.7');
    expect(addressGroup('::ffff:192.0.2.7', 64)).toBe('192.0.2.7');
    expect(addressGroup('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:DB8:1:2:ffff::1', 64)).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1::/56');
    expect(addressGroup('2001:db8:1:2:3:4:5:6', 60)).toBe('2001:db8:1::/60');
    expect(addressGroup('2001:db8:1:f2:3:4:5:6', 60)).toBe('2001:db8:1:f0::/60');
    expect(addressGroup('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6');
    expect(addressGroup('::1', 64)).toBe('::/64');
  });

  it('refuses what is not an address, in any of the lenient forms', () => {
    for (const bad of [
      '',
      'unknown',
      '127.1',
      '0x7f.0.0.1',
      '010.0.0.1',
      '1.2.3.4.5',
      'x'.repeat(10_000),
      '::ffff:300.1.1.1',
    ]) {
      expect(addressGroup(bad, 64)).toBeUndefined();
    }
  });

  it('believes X-Forwarded-For only from a trusted proxy, and passes over values that are no address', () => {
    const direct = createClientAddress({ trustedProxies: [], ipv6PrefixBits: 64 });
    expect(direct.of(request('203.0.113.5', '198.51.100.1'))).toBe('203.0.113.5');
    const proxied = createClientAddress({ trustedProxies: ['10.0.0.0/8'], ipv6PrefixBits: 64 });
    expect(proxied.of(request('10.0.0.2', '198.51.100.1'))).toBe('198.51.100.1');
    expect(proxied.of(request('10.0.0.2', '2001:db8::1, 10.0.0.9'))).toBe('2001:db8::/64');
    // An untrusted hop ends the chain: what it claims about earlier hops is not believed.
    expect(proxied.of(request('10.0.0.2', '198.51.100.1, 203.0.113.7'))).toBe('203.0.113.7');
    // A client may write anything before what the proxy appends: the proxy's own address is used.
    expect(proxied.of(request('10.0.0.2', `${'x'.repeat(5000)}`))).toBe('10.0.0.2');
    expect(proxied.of(request('203.0.113.5', 'nonsense'))).toBe('203.0.113.5');
    expect(direct.of(request(undefined))).toBe('unknown');
  });

  it('caps connections per peer, except the trusted proxies whose connections carry many clients', () => {
    const proxied = createClientAddress({ trustedProxies: ['10.0.0.0/8'], ipv6PrefixBits: 64 });
    expect(proxied.ofConnection('10.1.2.3')).toBeUndefined();
    expect(proxied.ofConnection('::ffff:10.1.2.3')).toBeUndefined();
    expect(proxied.ofConnection('2001:db8::9')).toBe('2001:db8::/64');
    expect(proxied.ofConnection(undefined)).toBeUndefined();
  });
});
