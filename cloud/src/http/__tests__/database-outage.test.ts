/**
 * A database outage on a real PostgreSQL server (the database refusing connections: ALLOW_CONNECTIONS
 * false and its sessions terminated): every endpoint answers 503 UNAVAILABLE with Retry-After instead
 * of 500 INTERNAL, /healthz says the database is down, the log gets one line instead of a stack per
 * request, and the webhook dispatcher logs the outage once and its end once.
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../domain/context.js';
import { startWebhookDispatcher } from '../../domain/webhooks.js';
import { DatabaseError, isUnavailableError } from '../../store/database.js';
import { errorResponse } from '../errors.js';
import { createPgDatabase, migrate } from '../../store/db.js';
import type { Database } from '../../store/db.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { TestDatabase } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** A migrated database of its own (xp_test_ops_*), which the test can take down and bring back. */
function outageTarget(): TestDatabase & { block(): Promise<void>; allow(): Promise<void> } {
  const name = `xp_test_ops_${randomBytes(5).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let db: Database | undefined;
  return {
    name: 'postgres',
    async open() {
      await admin(`CREATE DATABASE ${name}`);
      db = createPgDatabase(url.toString(), { max: 4 });
      await migrate(db);
      return db;
    },
    async dispose() {
      await db?.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    async block() {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    },
    async allow() {
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    },
  };
}

const UNAVAILABLE = { error: { code: 'UNAVAILABLE', message: 'the database is unavailable; retry later' } };

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a database outage (PostgreSQL refusing connections)', () => {
  const target = outageTarget();
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    // The SDK endpoints are mounted with an event sink; the events never need to go anywhere here.
    p = await startPlatform(target, { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    token = await p.login(OWNER.email, OWNER.password);
  }, 60_000);
  afterAll(async () => {
    await target.allow().catch(() => undefined);
    await p.close();
  });

  it('answers 503 UNAVAILABLE with Retry-After on every endpoint, /healthz says the database is down, and one line is logged', async () => {
    const healthy = await p.request('GET', '/healthz');
    expect([healthy.status, healthy.body]).toEqual([200, { status: 'ok' }]);
    const serverKey = p.boot.sdkKeys!.development!.server;
    const uncachedKey = p.boot.sdkKeys!.staging!.server;
    p.logs.length = 0;

    await target.block();
    const healthz = await p.request('GET', '/healthz');
    const health = await p.request('GET', '/api/v1/health', { token });
    const login = await p.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password } });
    const events = await p.request('POST', '/sdk/v1/events', { headers: { 'X-XP-SDK-Key': serverKey }, body: { events: [{ id: 'evt-outage-000001', type: 'track', unitId: 'u1', timestamp: Date.now(), name: 'purchase' }] } });
    const ruleset = await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': uncachedKey } });
    const flags = await p.request('GET', '/api/v1/projects/demo/flags', { token });

    expect([healthz.status, healthz.body, healthz.headers.get('retry-after')]).toEqual([503, { status: 'down', database: 'down' }, '5']);
    for (const res of [health, login, flags]) {
      expect([res.status, res.body, res.headers.get('retry-after')]).toEqual([503, UNAVAILABLE, '5']);
    }
    for (const res of [events, ruleset]) {
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(p.logs.filter((l) => l.startsWith('unhandled error'))).toEqual([]);
    expect(p.logs.join('\n')).not.toMatch(/\n\s+at /);
    expect(p.logs.filter((l) => l.startsWith('database unavailable'))).toHaveLength(1);

    await target.allow();
    const back = await p.request('GET', '/healthz');
    expect([back.status, back.body]).toEqual([200, { status: 'ok' }]);
    expect(await p.login(OWNER.email, OWNER.password)).not.toBe('');
  });

  it('the webhook dispatcher logs the first failure, then at most once per interval with a count, and the recovery once', async () => {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
    const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error') };
    const deps = { ...p.services.deps, logger };
    await target.block();
    const started = Date.now();
    const dispatcher = startWebhookDispatcher(deps, () => Promise.reject(new Error('never sends')), { idleMs: 20, retryMs: 20, logEveryMs: 400 });
    try {
      // Until the second periodic line (due 400 ms apart after the first failure): a loaded machine's
      // refused connections come slower, so no fixed window is sure to hold them.
      await eventually(() => lines.filter((l) => l.message === 'webhook dispatch still failing').length >= 2);
      const elapsed = Date.now() - started;
      const failed = lines.filter((l) => l.message === 'webhook dispatch failed');
      const still = lines.filter((l) => l.message === 'webhook dispatch still failing');

      expect(failed).toHaveLength(1);
      expect(failed[0]!.level).toBe('error');
      expect(still.length).toBeGreaterThanOrEqual(1);
      expect(still.length).toBeLessThanOrEqual(Math.ceil(elapsed / 400));
      expect(still[0]!.fields.failures).toBeGreaterThan(2);

      await target.allow();
      await eventually(() => lines.some((l) => l.message === 'webhook dispatch recovered'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const recovered = lines.filter((l) => l.message === 'webhook dispatch recovered');
      expect(recovered).toHaveLength(1);
      expect(recovered[0]!.level).toBe('info');
      expect(recovered[0]!.fields.failures).toBeGreaterThan(still[0]!.fields.failures as number);
    } finally {
      await target.allow();
      await dispatcher.stop();
    }
  });

  it('counts connection refusals as unavailable, and not the errors of a bad statement', () => {
    const error = (code: string, message = 'x'): DatabaseError => new DatabaseError(code, message);

    expect(isUnavailableError(error('55000', 'database "xp" is not currently accepting connections'))).toBe(true);
    expect(isUnavailableError(error('3D000', 'database "xp" does not exist'))).toBe(true);
    expect(isUnavailableError(error('28P01', 'password authentication failed for user "xp"'))).toBe(true);
    expect(isUnavailableError(error('EPIPE'))).toBe(true);
    expect(isUnavailableError(error('ECONNREFUSED'))).toBe(true);
    expect(isUnavailableError(error('57P01'))).toBe(true);
    expect(isUnavailableError(error('53300', 'sorry, too many clients already'))).toBe(true);
    expect(isUnavailableError(error('55000', 'currval of sequence "s" is not yet defined in this session'))).toBe(false);
    expect(isUnavailableError(error('23505'))).toBe(false);
    expect(isUnavailableError(error('42P01'))).toBe(false);
  });
});

describe('a closed embedded database (PGlite)', () => {
  it('answers /healthz 503 down and the API 503 UNAVAILABLE', async () => {
    const p = await startPlatform(pgliteTarget());
    try {
      await p.db.close();
      const healthz = await p.request('GET', '/healthz');
      const login = await p.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password } });

      expect([healthz.status, healthz.body]).toEqual([503, { status: 'down', database: 'down' }]);
      expect([login.status, login.body]).toEqual([503, UNAVAILABLE]);
      expect(p.logs.filter((l) => l.startsWith('unhandled error'))).toEqual([]);
    } finally {
      await p.close().catch(() => undefined);
    }
  });
});

describe('a transaction the database rolled back for a concurrent one', () => {
  it('answers 503 "send it again" with Retry-After 1 and logs it as what it is, not as an outage', async () => {
    const logs: string[] = [];
    const logger: Logger = {
      info: (m) => logs.push(`info ${m}`),
      warn: (m) => logs.push(`warn ${m}`),
      error: (m) => logs.push(`error ${m}`),
    };
    const app = new Hono();
    app.onError((err, c) => errorResponse(c, err, logger));
    app.get('/deadlock', () => {
      throw new DatabaseError('40P01', 'deadlock detected');
    });
    app.get('/serialization', () => {
      throw new DatabaseError('40001', 'could not serialize access due to concurrent update');
    });

    for (const path of ['/deadlock', '/serialization']) {
      const res = await app.request(path);
      expect([res.status, res.headers.get('retry-after'), await res.json()]).toEqual([
        503,
        '1',
        { error: { code: 'UNAVAILABLE', message: 'the change collided with a concurrent one and was rolled back: nothing was changed; send it again' } },
      ]);
    }
    expect(logs).toEqual(['warn transaction rolled back for a concurrent one', 'warn transaction rolled back for a concurrent one']);
  });
});
