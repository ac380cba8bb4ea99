import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';

/**
 * Whom limits count a client as: an IPv4 address, or the IPv6 prefix (`/64` by default) its
 * address belongs to. One holder of an IPv6 /64 (what a home or a cloud VM gets) has 2^64
 * addresses, so counting each /128 apart gave one client 2^64 allowances. An IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`) counts as the IPv4 address it maps. Undefined for anything that
 * is not an address: what a client sends never becomes a key unchecked.
 */
export function addressGroup(address: string, ipv6PrefixBits: number): string | undefined {
  // node's isIP is strict (no `127.1`, no octal or hex parts), unlike ipaddr.js' parser; a
  // plain IPv4 address, most requests' case, is its own group and needs no parsing.
  const family = isIP(address);
  if (family === 0) return undefined;
  if (family === 4) return address;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  if (parsed.kind() === 'ipv4') return parsed.toString();
  if (ipv6PrefixBits >= 128) return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.map((part, i) => {
    const keep = Math.min(16, Math.max(0, ipv6PrefixBits - i * 16));
    return keep === 0 ? 0 : part & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${new ipaddr.IPv6(parts).toString()}/${ipv6PrefixBits}`;
}

export type ClientAddress = ReturnType<typeof createClientAddress>;

/**
 * The client address of a request, for HTTP and WebSocket alike: the socket's peer, or the
 * address X-Forwarded-For names when that peer is a trusted proxy, grouped as `addressGroup`
 * says. A forwarded value that is no address (a client may write anything into the header a
 * proxy appends to) is passed over for the nearest hop that is one: the proxy's own.
 */
export function createClientAddress(options: { trustedProxies: string[]; ipv6PrefixBits: number }) {
  const trust = proxyAddr.compile(options.trustedProxies);
  const group = (address: string | undefined) =>
    address === undefined ? undefined : addressGroup(address, options.ipv6PrefixBits);
  return {
    /** The request's client, grouped; `unknown` only for a socket already closed (no peer address). */
    of(request: IncomingMessage): string {
      const chain = options.trustedProxies.length > 0 ? proxyAddr.all(request, trust) : [request.socket.remoteAddress];
      for (let i = chain.length - 1; i >= 0; i--) {
        const grouped = group(chain[i]);
        if (grouped !== undefined) return grouped;
      }
      return 'unknown';
    },
    /**
     * The client a fresh connection comes from, before any request on it: the peer's group,
     * or undefined when the peer is a trusted proxy (whose connections carry many clients).
     */
    ofConnection(remoteAddress: string | undefined): string | undefined {
      if (remoteAddress === undefined) return undefined;
      if (options.trustedProxies.length > 0 && trust(remoteAddress, 0)) return undefined;
      return group(remoteAddress);
    },
  };
}
