import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { configFromEnv, startLocalStack } from '@xp/cloud';
import type { LocalStack } from '@xp/cloud';
import { XpApiClient } from '@xp/shared';
import type { Role } from '@xp/shared';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DESKTOP_DIR = path.resolve(here, '..', '..');
export const RENDERER_DIR = path.join(DESKTOP_DIR, 'dist', 'renderer');
export const ARTIFACTS_DIR = path.join(DESKTOP_DIR, 'test-artifacts');

/** The PostgreSQL server the stack's scratch database lives on (CI starts it). */
const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const OWNER = { email: 'analyst@example.com', password: 'console e2e passphrase' };

export interface ConsoleStack {
  readonly stack: LocalStack;
  readonly consoleUrl: string;
  /** The development environment's server SDK key. */
  readonly sdkKey: string;
  /** The development environment's client SDK key (what browsers and apps ship). */
  readonly clientSdkKey: string;
  close(): Promise<void>;
}

/** The API as the stack's owner (signed in with OWNER), for a test's set-up and checks. */
export async function ownerApi(platform: ConsoleStack): Promise<XpApiClient> {
  const anonymous = new XpApiClient({ apiUrl: platform.stack.apiUrl });
  return anonymous.withToken((await anonymous.login(OWNER.email, OWNER.password)).token);
}

/**
 * Adds a user who has already chosen `password` as their own: invited with a generated password,
 * then signed in once through the API replacing it (as the console's first sign-in does), so a
 * test can sign in with `password` directly.
 */
export async function addUserWithOwnPassword(platform: ConsoleStack, api: XpApiClient, user: { email: string; password: string; name: string; role: Role }): Promise<void> {
  const { initialPassword } = await api.inviteUser({ email: user.email, name: user.name, role: user.role });
  await new XpApiClient({ apiUrl: platform.stack.apiUrl }).login(user.email, initialPassword ?? '', user.password);
}

/** Builds the renderer when this checkout has no build yet (the e2e suite needs the real bundle). */
export async function ensureRendererBuilt(): Promise<void> {
  if (existsSync(path.join(RENDERER_DIR, 'index.html'))) {
    return;
  }
  const { build } = await import('vite');
  await build({ configFile: path.join(DESKTOP_DIR, 'vite.config.mjs'), logLevel: 'warn' });
}

/**
 * The `npm start` stack on a fresh database of the real PostgreSQL server, with its console
 * serving the built renderer: the same code path a user gets, on free ports.
 */
export async function startConsoleStack(): Promise<ConsoleStack> {
  await ensureRendererBuilt();
  const dbName = `xp_console_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'xp-console-'));
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  let stack: LocalStack;
  try {
    stack = await startLocalStack(
      configFromEnv({
        XP_DATA_DIR: dataDir,
        DATABASE_URL: url.toString(),
        XP_API_PORT: '0',
        XP_CONSOLE_PORT: '0',
        XP_ADMIN_EMAIL: OWNER.email,
        XP_ADMIN_PASSWORD: OWNER.password,
        XP_DEMO: '0',
        XP_GUARDRAIL_INTERVAL_SECONDS: '0',
        XP_CONSOLE_DIR: RENDERER_DIR,
      }),
      { logger: quiet, print: () => undefined },
    );
  } catch (e) {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  const sdkKey = stack.boot.sdkKeys?.development?.server;
  const clientSdkKey = stack.boot.sdkKeys?.development?.client;
  if (sdkKey === undefined || clientSdkKey === undefined) {
    throw new Error('the bootstrap did not create the development SDK keys');
  }
  return {
    stack,
    consoleUrl: stack.consoleUrl,
    sdkKey,
    clientSdkKey,
    async close() {
      await stack.close();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, driven by playwright-core. */
export async function launchChromium(): Promise<Browser> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: process.env.XP_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
