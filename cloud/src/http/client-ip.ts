/**
 * The client's address behind reverse proxies (`XP_TRUSTED_PROXIES`). By default the address is the
 * TCP peer's, and X-Forwarded-For, which any client can send, is ignored. With trusted proxies set,
 * a request whose peer is one of them takes its address from X-Forwarded-For: the right-most entry
 * that is not itself a trusted proxy (each proxy appends the address it received the request from,
 * so entries left of that one were written by the client and prove nothing).
 */
import { BlockList, isIP } from 'node:net';
import { clientKey } from '../auth/rate-limit.js';

/** The variable `xp start` reads the list from. */
export const TRUSTED_PROXIES_VARIABLE = 'XP_TRUSTED_PROXIES';

/** A set of trusted proxy addresses and CIDR ranges (IPv4 and IPv6; IPv4-mapped IPv6 peers match IPv4 entries). */
export class TrustedProxies {
  readonly #list = new BlockList();
  /** The entries as given, for messages. */
  readonly entries: readonly string[];

  private constructor(entries: readonly string[]) {
    this.entries = entries;
  }

  /**
   * Parses a comma-separated list of IP addresses and CIDR ranges (`127.0.0.1,10.0.0.0/8,fd00::/8`).
   * Returns undefined for an empty list; throws an Error naming the first bad entry.
   */
  static parse(value: string | undefined, name = TRUSTED_PROXIES_VARIABLE): TrustedProxies | undefined {
    const entries = (value ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    if (entries.length === 0) {
      return undefined;
    }
    const proxies = new TrustedProxies(entries);
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const address = slash === -1 ? entry : entry.slice(0, slash);
      const version = isIP(address);
      const prefixText = slash === -1 ? undefined : entry.slice(slash + 1);
      const maxPrefix = version === 6 ? 128 : 32;
      const prefix = prefixText === undefined ? maxPrefix : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
      if (version === 0 || !(prefix >= 0 && prefix <= maxPrefix)) {
        throw new Error(`${name}: "${entry.slice(0, 64)}" is not an IP address or CIDR range (expected a comma-separated list such as 127.0.0.1,10.0.0.0/8,fd00::/8)`);
      }
      proxies.#list.addSubnet(address, prefix, version === 6 ? 'ipv6' : 'ipv4');
    }
    return proxies;
  }

  /** Whether `address` (an IP address) is one of the trusted proxies. */
  has(address: string): boolean {
    const version = isIP(address);
    return version !== 0 && this.#list.check(address, version === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An X-Forwarded-For entry as an IP address: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`; undefined when it is none. */
function hopAddress(hop: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  const candidate = bracketed?.[1] ?? (/^[\d.]+:\d{1,5}$/.test(hop) ? hop.slice(0, hop.lastIndexOf(':')) : hop);
  return isIP(candidate) === 0 ? undefined : candidate.toLowerCase();
}

/**
 * The client's address: `peer` (the TCP peer) unless it is a trusted proxy, in which case the
 * right-most X-Forwarded-For entry that is not a trusted proxy (the left-most entry when all are;
 * `peer` when the header is absent or that entry is not an IP address).
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | undefined, trusted: TrustedProxies | undefined): string | undefined {
  if (trusted === undefined || peer === undefined || !trusted.has(peer)) {
    return peer;
  }
  const hops = (forwardedFor ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  let client: string | undefined;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (hop === undefined) {
      // Not an address: whoever wrote it is not a proxy we trust, so nothing left of it counts.
      return client ?? peer;
    }
    client = hop;
    if (!trusted.has(hop)) {
      return hop;
    }
  }
  return client ?? peer;
}

/**
 * An address as one key per client: an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, what a
 * dual-stack socket reports for an IPv4 peer) as its IPv4 address, IPv6 in lower case.
 */
export function plainAddress(address: string): string {
  // clientKey knows an IPv4-mapped address in every spelling; another IPv6 address stays whole here (not its /64).
  const key = clientKey(address);
  return key.endsWith('::/64') ? address.toLowerCase() : key;
}
