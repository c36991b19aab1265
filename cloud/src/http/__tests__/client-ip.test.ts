import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { TrustedProxies, clientAddress } from '../client-ip.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

describe('XP_TRUSTED_PROXIES', () => {
  it('parses addresses and CIDR ranges, IPv4 and IPv6; an empty value is none', () => {
    const trusted = TrustedProxies.parse(' 127.0.0.1, 10.0.0.0/8 ,fd00::/8,');

    expect(trusted?.entries).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(['127.0.0.1', '10.200.3.4', '::ffff:10.1.1.1', 'fd12::7'].map((a) => trusted!.has(a))).toEqual([true, true, true, true]);
    expect(['127.0.0.2', '11.0.0.1', '::1', 'fe80::1', 'not-an-ip'].map((a) => trusted!.has(a))).toEqual([false, false, false, false, false]);
    expect(TrustedProxies.parse(undefined)).toBeUndefined();
    expect(TrustedProxies.parse(' , ')).toBeUndefined();
  });

  it('refuses a bad entry with a message naming it', () => {
    expect(() => TrustedProxies.parse('127.0.0.1,10.0.0.0/33')).toThrow('XP_TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or CIDR range');
    expect(() => TrustedProxies.parse('nginx')).toThrow('XP_TRUSTED_PROXIES: "nginx" is not an IP address or CIDR range');
    expect(() => TrustedProxies.parse('10.0.0.0/')).toThrow('"10.0.0.0/"');
    expect(() => TrustedProxies.parse('fd00::/129')).toThrow('"fd00::/129"');
    expect(() => TrustedProxies.parse('10.0.0.0/8x')).toThrow('"10.0.0.0/8x"');
  });

  it('takes the right-most X-Forwarded-For entry that is not a trusted proxy, only from a trusted peer', () => {
    const trusted = TrustedProxies.parse('127.0.0.1,10.0.0.0/8');

    // No setting: the header is ignored.
    expect(clientAddress('127.0.0.1', '203.0.113.7', undefined)).toBe('127.0.0.1');
    // An untrusted peer: ignored too.
    expect(clientAddress('198.51.100.9', '203.0.113.7', trusted)).toBe('198.51.100.9');
    // A trusted peer: the address its proxy received the request from; what the client wrote before it does not count.
    expect(clientAddress('127.0.0.1', '203.0.113.7', trusted)).toBe('203.0.113.7');
    expect(clientAddress('127.0.0.1', '1.1.1.1, 203.0.113.7', trusted)).toBe('203.0.113.7');
    // Through two trusted proxies (an ALB at 10.0.1.5 in front of nginx on 127.0.0.1).
    expect(clientAddress('::ffff:127.0.0.1', '1.1.1.1, 203.0.113.7, 10.0.1.5', trusted)).toBe('203.0.113.7');
    // Ports and IPv6 forms some proxies write.
    expect(clientAddress('127.0.0.1', '203.0.113.7:51234', trusted)).toBe('203.0.113.7');
    expect(clientAddress('127.0.0.1', '[2001:DB8::1]:443', trusted)).toBe('2001:db8::1');
    expect(clientAddress('127.0.0.1', '2001:db8::2', trusted)).toBe('2001:db8::2');
    // No header, only trusted entries, or a non-address where the client should be.
    expect(clientAddress('127.0.0.1', undefined, trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '10.0.0.9, 10.0.0.8', trusted)).toBe('10.0.0.9');
    expect(clientAddress('127.0.0.1', 'unknown', trusted)).toBe('127.0.0.1');
    expect(clientAddress(undefined, '203.0.113.7', trusted)).toBeUndefined();
  });
});

describe('login throttling per client address behind a proxy', () => {
  const PROXY = { incoming: { socket: { remoteAddress: '10.0.0.2' } } };
  let behindProxy: Platform;
  let noSetting: Platform;
  let otherProxy: Platform;

  beforeAll(async () => {
    behindProxy = await startPlatform(pgliteTarget(), { app: { trustedProxies: TrustedProxies.parse('10.0.0.0/8') } });
    noSetting = await startPlatform(pgliteTarget());
    otherProxy = await startPlatform(pgliteTarget(), { app: { trustedProxies: TrustedProxies.parse('192.168.0.1') } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([behindProxy.close(), noSetting.close(), otherProxy.close()]);
  });

  /** A wrong-password login as it reaches the API from the proxy at 10.0.0.2 for the client `forwardedFor`. */
  const wrongLogin = async (p: Platform, forwardedFor: string): Promise<number> => {
    const res = await p.app.request('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify({ email: OWNER.email, password: 'wrong password, again' }) }, PROXY);
    return res.status;
  };

  const fiveThenOther = async (p: Platform): Promise<number[]> => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(await wrongLogin(p, `198.51.100.${i}, 203.0.113.1`));
    }
    statuses.push(await wrongLogin(p, '203.0.113.1'));
    statuses.push(await wrongLogin(p, '203.0.113.2'));
    return statuses;
  };

  it('with the proxy trusted, two clients behind it are limited separately (a forged left-most entry changes nothing)', async () => {
    expect(await fiveThenOther(behindProxy)).toEqual([401, 401, 401, 401, 429, 429, 401]);
  });

  it('without the setting, X-Forwarded-For is ignored: every client behind the proxy shares its address', async () => {
    expect(await fiveThenOther(noSetting)).toEqual([401, 401, 401, 401, 429, 429, 429]);
  });

  it('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async () => {
    expect(await fiveThenOther(otherProxy)).toEqual([401, 401, 401, 401, 429, 429, 429]);
  });
});
