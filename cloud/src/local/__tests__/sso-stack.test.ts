import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import { startTestIdp } from '../../http/__tests__/sso-idp.js';
import type { TestIdp } from '../../http/__tests__/sso-idp.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

describe('xp start with XP_SSO_* set', () => {
  let dir = '';
  let idp: TestIdp;
  let stack: LocalStack;
  const printed: string[] = [];
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-sso-stack-'));
    idp = await startTestIdp([{ clientId: 'xp', clientSecret: 'local-secret', redirectUri: 'http://localhost/unused' }]);
    stack = await startLocalStack(
      configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: 'a long local passphrase 77', XP_DEMO: '0', XP_SSO_ISSUER: idp.issuer, XP_SSO_CLIENT_ID: 'xp', XP_SSO_CLIENT_SECRET: 'local-secret', XP_SSO_NAME: 'Keycloak', XP_SSO_ENFORCED: 'true' }),
      { logger: { ...silentLogger, warn: (message) => warnings.push(message) }, print: (l) => printed.push(l) },
    );
  });
  afterAll(async () => {
    await stack.close();
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("offers SSO through the console, with the callback on the console's actual port, and says so at start", async () => {
    const consolePort = new URL(stack.consoleUrl).port;
    const callback = `http://localhost:${consolePort}/api/v1/auth/sso/callback`;

    const info = await (await fetch(`${stack.consoleUrl}/api/v1/auth/sso`)).json();
    // The console is printed at 127.0.0.1: the start first moves to the callback's host name.
    const hop = await fetch(`${stack.consoleUrl}/api/v1/auth/sso/start`, { redirect: 'manual' });
    const started = await fetch(hop.headers.get('location')!, { redirect: 'manual' });
    const authorize = new URL(started.headers.get('location')!);

    expect(info).toEqual({ enabled: true, name: 'Keycloak', passwordSignIn: 'owners' });
    expect([hop.status, hop.headers.get('location')]).toEqual([302, `http://localhost:${consolePort}/api/v1/auth/sso/start`]);
    expect([started.status, `${authorize.origin}${authorize.pathname}`, authorize.searchParams.get('redirect_uri')]).toEqual([302, `${idp.issuer}/auth`, callback]);
    expect(started.headers.get('set-cookie')).toMatch(/^xp_sso_[0-9a-f]{16}=/);
    expect(printed).toContain(`  SSO       Sign in with Keycloak (${idp.issuer}; callback ${callback}; passwords for owners only)`);
    expect(printed.join('\n')).not.toContain('local-secret');
  });

  it('warns once at start that, without XP_SSO_ALLOWED_DOMAINS, any email the IdP verified gets an account', () => {
    const open = warnings.filter((w) => w.includes('XP_SSO_ALLOWED_DOMAINS'));
    expect(open).toEqual([expect.stringContaining(`single sign-on is open to any email the identity provider says is verified (XP_SSO_ALLOWED_DOMAINS is not set)`)]);
    expect(open[0]).toContain(idp.issuer);
  });
});
