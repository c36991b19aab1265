/**
 * `xp start` behind a reverse proxy on the same machine (XP_TRUSTED_PROXIES=127.0.0.1): the login
 * limits count the client named by X-Forwarded-For, over real HTTP. The address logic itself is
 * tested in http/__tests__/client-ip.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/xp.js';
import { silentLogger } from '../../domain/context.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const PASSWORD = 'trusted proxy test passphrase';

describe('xp start with XP_TRUSTED_PROXIES', () => {
  let dir: string;
  let stack: LocalStack;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-proxy-'));
    stack = await startLocalStack(
      configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0', XP_TRUSTED_PROXIES: '127.0.0.1, ::1' }),
      { logger: silentLogger, print: () => undefined },
    );
  }, 120_000);
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  const wrongLogin = async (forwardedFor: string): Promise<number> => {
    const res = await fetch(`${stack.apiUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ email: 'me@example.com', password: 'not the passphrase at all' }),
    });
    await res.body?.cancel();
    return res.status;
  };

  it('limits two clients behind the proxy separately', async () => {
    const first: number[] = [];
    for (let i = 0; i < 5; i++) {
      first.push(await wrongLogin('203.0.113.1'));
    }

    expect(first).toEqual([401, 401, 401, 401, 429]);
    expect(await wrongLogin('203.0.113.2')).toBe(401);
    expect(await wrongLogin('203.0.113.1')).toBe(429);
  });

  it('stops the start with a one-line error naming a bad entry', async () => {
    const err: string[] = [];

    expect(() => configFromEnv({ XP_TRUSTED_PROXIES: '10.0.0.0/8,proxy.internal' })).toThrow('XP_TRUSTED_PROXIES: "proxy.internal" is not an IP address or CIDR range');
    await expect(main(['start'], { XP_DATA_DIR: dir, XP_TRUSTED_PROXIES: '300.1.1.1' }, () => undefined, (l) => err.push(l))).rejects.toThrow('XP_TRUSTED_PROXIES: "300.1.1.1" is not an IP address or CIDR range');
    expect(err).toEqual([]);
  });
});
