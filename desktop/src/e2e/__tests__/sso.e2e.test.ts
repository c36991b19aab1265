import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { configFromEnv, startLocalStack } from '@xp/cloud';
import type { LocalStack } from '@xp/cloud';
import { ARTIFACTS_DIR, OWNER, RENDERER_DIR, ensureRendererBuilt, launchChromium } from '../console-stack.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WAIT = { timeout: 30_000 };
const CLIENT = { id: 'xp-console-e2e', secret: randomBytes(24).toString('hex') };
const IDP_NAME = 'Local IdP';

/** A port free right now on 127.0.0.1 (the console's: the redirect URL registered at the IdP names it before the stack starts). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

/**
 * A real OpenID Connect provider (`oidc-provider`, with its development sign-in and consent pages)
 * on an ephemeral port. Any login name is an account, and its email: verified, unless it starts
 * with "unverified".
 */
async function startIdp(redirectUrl: string): Promise<{ issuer: string; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uris: [redirectUrl], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: `idp-${id}`, email: id, email_verified: !id.startsWith('unverified'), name: 'Ana from the IdP' }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The claims of the scopes in the ID token too, as Okta, Entra ID and Google give them.
    conformIdTokenClaims: false,
    cookies: { keys: [randomBytes(16).toString('hex')] },
    features: { devInteractions: { enabled: true } },
  });
  const handle = provider.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });
  return { issuer, server };
}

/**
 * Single sign-on end to end: the `npm start` stack on real PostgreSQL configured (XP_SSO_*) with a
 * real OpenID Connect provider, the built console in Debian's Chromium. A new person clicks
 * "Sign in with Local IdP", signs in on the IdP's page and comes back signed in (created at first
 * sign-in with the default role); a cancelled sign-in and one from a domain not allowed come back
 * with their message on the sign-in screen.
 */
describe('console end to end: single sign-on', () => {
  let stack: LocalStack | undefined;
  let idp: Server | undefined;
  let browser: Browser | undefined;
  let admin: pg.Client | undefined;
  let dbName = '';
  let dataDir = '';
  let consoleUrl = '';

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    const [, consolePort] = await Promise.all([ensureRendererBuilt(), freePort()]);
    const redirectUrl = `http://127.0.0.1:${String(consolePort)}/api/v1/auth/sso/callback`;
    const started = await startIdp(redirectUrl);
    idp = started.server;
    dbName = `xp_sso_${randomBytes(6).toString('hex')}`;
    admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    dataDir = await mkdtemp(path.join(tmpdir(), 'xp-sso-'));
    const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
    [stack, browser] = await Promise.all([
      startLocalStack(
        configFromEnv({
          XP_DATA_DIR: dataDir,
          DATABASE_URL: url.toString(),
          XP_API_PORT: '0',
          XP_CONSOLE_PORT: String(consolePort),
          XP_ADMIN_EMAIL: OWNER.email,
          XP_ADMIN_PASSWORD: OWNER.password,
          XP_DEMO: '0',
          XP_GUARDRAIL_INTERVAL_SECONDS: '0',
          XP_CONSOLE_DIR: RENDERER_DIR,
          XP_SSO_ISSUER: started.issuer,
          XP_SSO_CLIENT_ID: CLIENT.id,
          XP_SSO_CLIENT_SECRET: CLIENT.secret,
          XP_SSO_REDIRECT_URL: redirectUrl,
          XP_SSO_NAME: IDP_NAME,
          XP_SSO_ALLOWED_DOMAINS: 'example.com',
          XP_SSO_DEFAULT_ROLE: 'analyst',
        }),
        { logger: quiet, print: () => undefined },
      ),
      launchChromium(),
    ]);
    consoleUrl = stack.consoleUrl;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await new Promise<void>((resolve) => {
      if (idp === undefined) {
        resolve();
      } else {
        idp.closeAllConnections();
        idp.close(() => { resolve(); });
      }
    });
    if (admin !== undefined) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
    if (dataDir !== '') {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  /** A fresh browser (no IdP session, no cookie) on the console's sign-in screen, through to the IdP's sign-in page. */
  const toIdp = async (): Promise<Page> => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(consoleUrl);
    await page.getByRole('heading', { name: 'Sign in to xp' }).waitFor(WAIT);
    await page.getByRole('button', { name: `Sign in with ${IDP_NAME}` }).click();
    await page.getByPlaceholder('Enter any login').waitFor(WAIT).catch(async (e: unknown) => {
      await shot(page, 'sso-00-not-at-idp');
      throw new Error(`not at the IdP's sign-in page but at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 500)}`, { cause: e });
    });
    return page;
  };

  const signInAtIdp = async (page: Page, login: string): Promise<void> => {
    await page.getByPlaceholder('Enter any login').fill(login);
    await page.getByPlaceholder('and password').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click(WAIT);
  };

  it('signs a new person in through the identity provider and back, created with the default role', async () => {
    const page = await toIdp();
    expect(new URL(page.url()).origin).not.toBe(new URL(consoleUrl).origin);
    await shot(page, 'sso-01-idp-sign-in');
    await signInAtIdp(page, 'sso-ana@example.com');

    await page.getByRole('button', { name: 'Sign out' }).waitFor(WAIT);
    await page.getByRole('heading', { name: 'Flags', level: 1 }).waitFor(WAIT);
    await shot(page, 'sso-02-signed-in');
    // The one-time code left the URL (and the history) at once.
    expect(new URL(page.url()).hash).toBe('#/');
    expect(await page.locator('.topbar').textContent()).toContain('sso-ana@example.com · analyst');
    // The session is kept as after a password sign-in: a reload stays signed in.
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor(WAIT);
    await page.context().close();
  }, 90_000);

  it('comes back to the sign-in screen saying why when the sign-in is cancelled at the identity provider', async () => {
    const page = await toIdp();
    await page.getByRole('link', { name: '[ Cancel ]' }).click();

    const alert = page.getByRole('alert');
    await alert.waitFor(WAIT);
    expect(await alert.textContent()).toBe('Single sign-on was cancelled, or your identity provider refused it. Try again, or ask your administrator whether you have access to xp.');
    expect(new URL(page.url()).hash).toBe('#/');
    // The button comes with the API's answer to GET /auth/sso, which may land after the notice.
    await page.getByRole('button', { name: `Sign in with ${IDP_NAME}` }).waitFor(WAIT);
    await shot(page, 'sso-03-cancelled');
    await page.context().close();
  }, 90_000);

  it('refuses an email outside the allowed domains, saying so', async () => {
    const page = await toIdp();
    await signInAtIdp(page, 'eve@elsewhere.test');

    const alert = page.getByRole('alert');
    await alert.waitFor(WAIT);
    expect(await alert.textContent()).toBe('Your email address is not in a domain allowed to sign in to xp. Sign in with your work account, or ask your administrator.');
    expect(new URL(page.url()).hash).toBe('#/');
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await page.context().close();
  }, 90_000);
});
