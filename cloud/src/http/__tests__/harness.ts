import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import { PlatformKey } from '../../auth/platform-key.js';
import { LoginRateLimiter } from '../../auth/rate-limit.js';
import { bootstrap } from '../../domain/bootstrap.js';
import type { BootstrapResult } from '../../domain/bootstrap.js';
import type { Deps } from '../../domain/context.js';
import { silentLogger } from '../../domain/context.js';
import { createServices } from '../../domain/services.js';
import type { Services } from '../../domain/services.js';
import { startDynalite } from '../../local/aws-local.js';
import type { Database } from '../../store/db.js';
import { createDynamoClient, createDynamoRulesetStore } from '../../store/ruleset-store.js';
import type { RulesetStore } from '../../store/ruleset-store.js';
import type { TestDatabase } from '../../store/__tests__/test-databases.js';
import { createApp } from '../app.js';
import type { AppOptions } from '../app.js';

/** Cheap scrypt for tests; production uses the default cost. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;
export const OWNER = { email: 'owner@example.com', password: 'correct horse battery staple' };

/** A boolean flag's body (off / on) with the given environment states; development off by default. */
export function booleanFlagBody(
  key: string,
  environments: Record<string, unknown> = { development: { enabled: false, defaultVariation: 'on', offVariation: 'off' } },
  name = key,
): Record<string, unknown> {
  return {
    key,
    name,
    type: 'boolean',
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments,
  };
}

/** A request as `token`, with `If-Match: "<version>"` when a version is given. */
export function requestAs(p: Platform, token: string, method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any; headers: Headers }> {
  return p.request(method, path, { token, ...(body === undefined ? {} : { body }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });
}

/** `requestAs` that throws with the answer unless it succeeded (status below 300); returns the body. */
export async function mustAs(p: Platform, token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> {
  const res = await requestAs(p, token, method, path, body, version);
  if (res.status >= 300) {
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

/** The password `signedInAs` gives the users it invites. */
export const INVITED_PASSWORD = 'a much longer passphrase 42';

/** Invites a user with `role` (as the owner session `owner`) and signs them in: their session token. */
export async function signedInAs(p: Platform, owner: string, role: 'admin' | 'editor' | 'analyst' | 'viewer', email: string): Promise<string> {
  const invited = await p.request('POST', '/api/v1/users', { token: owner, body: { email, name: email.split('@')[0], role, password: INVITED_PASSWORD } });
  if (invited.status !== 201) {
    throw new Error(`invite of ${email} failed: ${invited.status} ${JSON.stringify(invited.body)}`);
  }
  return p.login(email, INVITED_PASSWORD);
}

/**
 * Marks a user's password as one they chose (as their first login with `newPassword` would), for
 * tests that set users up with passwords they know. Not an API: the platform has no such shortcut.
 */
export async function markPasswordChosen(db: Database, email: string): Promise<void> {
  await db.query('UPDATE users SET password_change_required = false WHERE lower(email) = lower($1)', [email]);
}

export interface Platform {
  readonly app: Hono;
  readonly services: Services;
  readonly db: Database;
  readonly rulesets: RulesetStore;
  readonly boot: BootstrapResult;
  readonly now: { value: Date };
  readonly logs: string[];
  request(method: string, path: string, options?: { token?: string; body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  login(email: string, password: string): Promise<string>;
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Wraps or extends the dependencies before anything uses them (event sinks, counting stores). */
  readonly deps?: (deps: Deps) => Deps;
  /** Merged over the harness's app options. */
  readonly app?: AppOptions;
}

/** A whole platform on a real database target and an in-process dynalite, bootstrapped. */
export async function startPlatform(target: TestDatabase, options: PlatformOptions = {}): Promise<Platform> {
  const db = await target.open();
  const dynamo = await startDynalite();
  const client = createDynamoClient(dynamo.endpoint);
  const rulesets = createDynamoRulesetStore({ client, tableName: `rulesets-${randomUUID()}` });
  await rulesets.ensureTable();
  const now = { value: new Date('2026-11-25T12:00:00Z') };
  const logs: string[] = [];
  const logger = {
    info: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
    warn: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
    error: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
  };
  const baseDeps: Deps = { db, rulesets, now: () => now.value, newId: () => randomUUID(), logger: logs.length >= 0 ? logger : silentLogger, platformKey: PlatformKey.generate() };
  const deps = options.deps === undefined ? baseDeps : options.deps(baseDeps);
  const services = createServices(deps, { limiter: LoginRateLimiter.inMemory({ now: () => now.value.getTime() }), scrypt: TEST_SCRYPT });
  const boot = await bootstrap(deps, { adminEmail: OWNER.email, adminPassword: OWNER.password, scrypt: TEST_SCRYPT });
  const app = createApp(services, { maxBodyBytes: 256 * 1024, ...options.app });
  const request: Platform['request'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token !== undefined) {
      headers.authorization = `Bearer ${options.token}`;
    }
    let body: string | Uint8Array | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] ??= 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // non-JSON bodies (docs HTML) are returned as text
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    app,
    services,
    db,
    rulesets,
    boot,
    now,
    logs,
    request,
    async login(email, password) {
      let res = await request('POST', '/api/v1/auth/login', { body: { email, password } });
      if (res.status === 403 && (res.body as { error?: { code?: string } }).error?.code === 'PASSWORD_CHANGE_REQUIRED') {
        // A test user invited with a password the test knows: taken as one the user chose at their
        // first login (passwords.test.ts covers that change itself), so the test can keep using it.
        await markPasswordChosen(db, email);
        res = await request('POST', '/api/v1/auth/login', { body: { email, password } });
      }
      if (res.status !== 200) {
        throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return (res.body as { token: string }).token;
    },
    async close() {
      client.destroy();
      await dynamo.close();
      await target.dispose();
    },
  };
}
