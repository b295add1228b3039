import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/**
 * Parses `trusted_proxies` entries (IPs and CIDRs, v4 and v6) into a BlockList used as an
 * allow list. Returns the entries it could not parse, for config errors.
 */
export function buildTrustList(entries: readonly string[]): { list: BlockList; invalid: string[] } {
  const list = new BlockList();
  const invalid: string[] = [];
  for (const entry of entries) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr ?? '');
    const prefix = bits === undefined ? undefined : Number(bits);
    const maxBits = family === 6 ? 128 : 32;
    if (!family || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= maxBits))) {
      invalid.push(entry);
      continue;
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, prefix, type);
  }
  return { list, invalid };
}

/** True when `address` (as Node reports the peer, maybe `::ffff:`-mapped) is in the list. */
export function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  const family = isIP(plain);
  return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client address for `source_ip` rules: the peer, unless the peer is a trusted proxy; then
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left
 * were written by the client and prove nothing).
 */
export function clientAddress(peer: string, forwardedFor: string | string[] | undefined, trusted: BlockList, anyTrusted: boolean): string {
  if (!anyTrusted || !isTrusted(trusted, peer) || forwardedFor === undefined) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (!hop) return '';
    if (!isTrusted(trusted, hop) || i === 0) return hop;
  }
  return '';
}

/** One X-Forwarded-For entry as an address: `ip`, `ip:port` or `[v6]:port`; '' when it is none. */
function hopAddress(entry: string): string {
  let hop = entry.trim();
  const bracket = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracket) hop = bracket[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$/.test(hop)) hop = hop.slice(0, hop.lastIndexOf(':'));
  return isIP(hop.startsWith('::ffff:') ? hop.slice(7) : hop) ? hop : '';
}

/** The client address of a request, as `source_ip` rules, logs and the SAML audit trail see it. */
export function requestClientIp(req: IncomingMessage, f: { trustedProxies: BlockList; anyTrustedProxy: boolean }): string {
  return clientAddress(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], f.trustedProxies, f.anyTrustedProxy);
}
