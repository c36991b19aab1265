/**
 * A whole SSO sign-in as on AWS: SsoService (Deps.ssoFetch) → lambdaSsoFetch → the egress handler →
 * a real OpenID provider (oidc-provider on 127.0.0.1). Lambda itself cannot run here: a fake
 * LambdaInvoker hands the JSON payload to the egress handler as Lambda would. The handler allows
 * http to this loopback IdP through its test option only.
 */
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSsoConfig } from '../../auth/sso-config.js';
import type { SsoConfig } from '../../auth/sso-config.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { startPlatform } from '../../http/__tests__/harness.js';
import { startTestIdp } from '../../http/__tests__/sso-idp.js';
import type { TestIdp } from '../../http/__tests__/sso-idp.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import { createSsoEgressHandler } from '../sso-egress.js';
import { lambdaSsoFetch } from '../sso-egress-fetch.js';
import type { LambdaInvoker } from '../webhook-lambda-sender.js';

const REDIRECT = 'http://localhost/api/v1/auth/sso/callback';
const SECRET = 'the-client-secret-of-the-egress-test';
const silent = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

describe('an SSO sign-in through the egress function', () => {
  let p: Platform;
  let idp: TestIdp;
  let sso: SsoConfig;
  /** The URLs SsoService fetched through Deps.ssoFetch, and those the egress function was invoked with. */
  const fetched: string[] = [];
  const invoked: string[] = [];
  /** The issuer the egress function allows (XP_SSO_ISSUER of its own). */
  const egress = { issuer: '' };

  beforeAll(async () => {
    idp = await startTestIdp([{ clientId: 'xp', clientSecret: SECRET, redirectUri: REDIRECT }]);
    egress.issuer = idp.issuer;
    sso = loadSsoConfig({ XP_SSO_ISSUER: idp.issuer, XP_SSO_CLIENT_ID: 'xp', XP_SSO_CLIENT_SECRET: SECRET }, { redirectUrl: REDIRECT })!;
    const lambda: LambdaInvoker = {
      send: async (command: InvokeCommand) => {
        const event = JSON.parse(command.input.Payload as string) as { url: string };
        invoked.push(event.url);
        const handler = createSsoEgressHandler({ issuer: egress.issuer, allowHttpLoopback: true, logger: silent });
        return { Payload: new TextEncoder().encode(JSON.stringify(await handler(event))) };
      },
    };
    const ssoFetch = lambdaSsoFetch({ functionName: 'xp-test-sso-egress', logger: silent, client: lambda });
    const counted: typeof fetch = (input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return ssoFetch(input, init);
    };
    p = await startPlatform(TARGETS[0](), { deps: (d) => ({ ...d, sso, ssoFetch: counted }) });
  });
  afterAll(async () => {
    await p.close();
    await idp.close();
  });

  it('makes discovery, the token request and the userinfo request through ssoFetch, and signs the person in', async () => {
    idp.accounts.set('carol-sub', { email: 'carol@example.com', email_verified: true, name: 'Carol' });

    const start = await p.request('GET', '/api/v1/auth/sso/start');
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!;
    const back = await idp.signIn(start.headers.get('location')!, 'carol-sub');
    const callback = await p.request('GET', `${back.pathname}${back.search}`, { headers: { cookie } });
    const code = decodeURIComponent(callback.headers.get('location')!.replace(/^\/#sso-code=/, ''));
    const exchanged = await p.request('POST', '/api/v1/auth/sso/exchange', { body: { code }, headers: { cookie } });

    expect(start.headers.get('location')).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    expect(callback.headers.get('location')).toMatch(/^\/#sso-code=/);
    expect(exchanged.status).toBe(200);
    expect(exchanged.body.user).toMatchObject({ email: 'carol@example.com', name: 'Carol' });
    // oidc-provider's userinfo endpoint is /me (its ID token holds no email); openid-client needs no JWKS for a
    // code flow's ID token, which it got from the token endpoint directly.
    expect(fetched).toEqual([`${idp.issuer}/.well-known/openid-configuration`, `${idp.issuer}/token`, `${idp.issuer}/me`]);
    expect(invoked).toEqual(fetched);
  });

  it('answers idp-unavailable when the egress function refuses the request (as deployed: an http IdP), and logs why', async () => {
    // A fresh service: the discovered configuration is cached per service.
    const refusing = createSsoEgressHandler({ issuer: 'https://idp.example.com', logger: silent });
    const logs: string[] = [];
    const logger = { ...silent, warn: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`) };
    const client: LambdaInvoker = { send: async (command: InvokeCommand) => ({ Payload: new TextEncoder().encode(JSON.stringify(await refusing(JSON.parse(command.input.Payload as string)))) }) };
    const other = await startPlatform(TARGETS[0](), { deps: (d) => ({ ...d, sso, ssoFetch: lambdaSsoFetch({ functionName: 'xp-test-sso-egress', logger, client }) }) });
    try {
      const start = await other.request('GET', '/api/v1/auth/sso/start');

      expect([start.status, start.headers.get('location')]).toEqual([302, '/#sso-error=idp-unavailable']);
      expect(other.logs.filter((l) => l.startsWith('sso: identity provider discovery failed'))).toHaveLength(1);
      expect(logs).toEqual([expect.stringMatching(/^sso egress: no answer from the identity provider \{"error":"refused","message":"only https URLs of the identity provider are sent \(not http:\/\/127\.0\.0\.1:\d+\)"\}$/)]);
    } finally {
      await other.close();
    }
  });
});
