/**
 * The database's disk full: writes are answered 503 "the database cannot write: its disk is full;
 * free space, then retry" (Retry-After kept) instead of a bare "unavailable", logged as an ERROR
 * naming the cause once a minute, and the Health view says the database is `degraded` with that
 * reason until a write works again. Other resource errors (SQLSTATE class 53) say which resource.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../domain/context.js';
import { noticeWrites } from '../../local/disk-space.js';
import { DatabaseError } from '../../store/database.js';
import type { Database, Queryable } from '../../store/database.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { databaseWriteSucceeded, errorResponse } from '../errors.js';
import { attachDatabaseSpaceCheck } from '../routes/health.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

const DISK_FULL = { error: { code: 'UNAVAILABLE', message: 'the database cannot write: its disk is full; free space, then retry' } };

/** `db` whose writes fail as PostgreSQL's do on a full disk while `disk.full`. */
function onDisk(db: Database, disk: { full: boolean }): Database {
  const check = (sql: string): void => {
    if (disk.full && /^\s*(INSERT|UPDATE|DELETE)/i.test(sql)) {
      throw new DatabaseError('53100', 'could not extend file "base/5/16390": No space left on device');
    }
  };
  const guard = (q: Queryable): Queryable => ({
    query: (sql, params) => {
      check(sql);
      return q.query(sql, params);
    },
  });
  return { kind: db.kind, query: (sql, params) => guard(db).query(sql, params), withTransaction: (fn) => db.withTransaction((tx) => fn(guard(tx))), close: () => db.close() };
}

describe('the database disk full', () => {
  const disk = { full: false };
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), {
      deps: (d) => ({
        ...d,
        db: noticeWrites(onDisk(d.db, disk), () => {
          databaseWriteSucceeded(d.logger);
        }),
      }),
    });
    token = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('answers writes 503 saying the disk is full, logs it as the cause once, and health says the database is degraded until a write works', async () => {
    expect((await p.request('GET', '/api/v1/health', { token })).body).toMatchObject({ database: 'ok' });
    disk.full = true;
    p.logs.length = 0;

    const refused = await p.request('POST', '/api/v1/projects', { token, body: { key: 'full', name: 'Full' } });
    expect([refused.status, refused.body, refused.headers.get('retry-after')]).toEqual([503, DISK_FULL, '5']);
    expect((await p.request('POST', '/api/v1/projects', { token, body: { key: 'full2', name: 'Full' } })).body).toEqual(DISK_FULL);
    const logged = p.logs.filter((l) => l.startsWith('database disk full'));
    expect(logged).toHaveLength(1); // the second failure within the minute is counted, not logged
    expect(logged[0]).toContain('database disk full: it cannot write; free space on its disk');
    expect(logged[0]).toContain('53100: could not extend file');

    const health = (await p.request('GET', '/api/v1/health', { token })).body;
    expect(health).toMatchObject({ status: 'degraded', database: 'degraded', databaseIssue: { reason: 'disk-full', lastError: expect.stringContaining('53100: could not extend file') } });

    disk.full = false;
    expect((await p.request('POST', '/api/v1/projects', { token, body: { key: 'room', name: 'Room' } })).status).toBe(201);
    const after = (await p.request('GET', '/api/v1/health', { token })).body;
    expect(after.database).toBe('ok');
    expect(after.databaseIssue).toBeUndefined();
    expect(p.logs.some((l) => l.startsWith('database writes work again (its disk had been full)'))).toBe(true);
  });

  it('health also ends the degraded state when a check finds room on the disk again (locally: the data folder)', async () => {
    let room = false;
    attachDatabaseSpaceCheck(p.services, () => room);
    disk.full = true;
    expect((await p.request('POST', '/api/v1/projects', { token, body: { key: 'full3', name: 'Full' } })).status).toBe(503);
    expect((await p.request('GET', '/api/v1/health', { token })).body.database).toBe('degraded');
    room = true; // space freed; no write yet
    expect((await p.request('GET', '/api/v1/health', { token })).body.database).toBe('ok');
    disk.full = false;
  });
});

describe('other resource errors (SQLSTATE class 53)', () => {
  it('say which resource the database lacks, with Retry-After', async () => {
    const logger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const app = new Hono();
    app.onError((err, c) => errorResponse(c, err, logger));
    app.get('/pglite', () => {
      // Embedded PGlite's file system errors come without a SQLSTATE.
      throw new DatabaseError(undefined, 'could not write to file "pg_wal/xlogtemp.1": No space left on device');
    });
    app.get('/:code', (c) => {
      throw new DatabaseError(c.req.param('code'), 'resource');
    });
    const answer = async (code: string): Promise<[number, unknown, string | null]> => {
      const res = await app.request(`/${code}`);
      return [res.status, ((await res.json()) as { error: { message: string } }).error.message, res.headers.get('retry-after')];
    };
    expect(await answer('53200')).toEqual([503, 'the database is out of memory; retry later', '5']);
    expect(await answer('53300')).toEqual([503, 'the database has no connection left; retry later', '5']);
    expect(await answer('53400')).toEqual([503, 'the database lacks a resource (53400); retry later', '5']);
    expect(await answer('53100')).toEqual([503, 'the database cannot write: its disk is full; free space, then retry', '5']);
    expect(await answer('pglite')).toEqual([503, 'the database cannot write: its disk is full; free space, then retry', '5']);
    expect(await answer('08006')).toEqual([503, 'the database is unavailable; retry later', '5']);
  });
});
