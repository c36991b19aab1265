import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { DatabaseError, SqlState, migrate, splitStatements } from '../db.js';
import { TARGETS, postgresTarget } from './test-databases.js';

describe('splitStatements', () => {
  it('splits on semicolons outside quotes, comments and dollar-quoted bodies', () => {
    const sql = "-- a; comment\nCREATE TABLE t (a text DEFAULT ';');\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\nSELECT 1";

    expect(splitStatements(sql)).toEqual([
      "CREATE TABLE t (a text DEFAULT ';')",
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$',
      'SELECT 1',
    ]);
  });
});

describe.each(TARGETS.map((t) => [t().name, t] as const))('database on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;

  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await target.dispose();
  });

  it(`${target.name}: migrations are idempotent`, async () => {
    const again = await migrate(db);
    const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');

    expect(again).toEqual([]);
    expect(recorded.rows.map((r) => r.name)).toContain('0001_init.sql');
  });

  it(`${target.name}: commits a transaction and rolls back a failed one`, async () => {
    await db.withTransaction(async (tx) => {
      await tx.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', ['org-a', 'A']);
    });
    const failed = db.withTransaction(async (tx) => {
      await tx.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', ['org-b', 'B']);
      throw new Error('abort');
    });

    await expect(failed).rejects.toThrow('abort');
    const rows = await db.query<{ id: string }>('SELECT id FROM organizations ORDER BY id');
    expect(rows.rows.map((r) => r.id)).toEqual(['org-a']);
  });

  it(`${target.name}: errors thrown inside a transaction pass through unchanged`, async () => {
    class Marker extends Error {}
    const failing = db.withTransaction(async (tx) => {
      await tx.query('SELECT 1');
      throw new Marker('mine');
    });

    await expect(failing).rejects.toBeInstanceOf(Marker);
  });

  it(`${target.name}: parameters stay data, whatever they contain`, async () => {
    const evil = "x'); DROP TABLE organizations; --";
    await db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', ['org-evil', evil]);

    const row = await db.query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', ['org-evil']);

    expect(row.rows[0]?.name).toBe(evil);
  });

  it(`${target.name}: constraint violations surface as DatabaseError with the SQLSTATE`, async () => {
    const duplicate = db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', ['org-a', 'again']);

    await expect(duplicate).rejects.toBeInstanceOf(DatabaseError);
    await expect(duplicate).rejects.toMatchObject({ code: SqlState.UniqueViolation });
  });

  it(`${target.name}: the audit log is append-only`, async () => {
    await db.query(
      `INSERT INTO audit_log (org_id, client, action, resource_type, resource_key, diff) VALUES ($1, 'api', 'create', 'flag', 'f', '{}'::jsonb)`,
      ['org-a'],
    );

    await expect(db.query('UPDATE audit_log SET action = $1', ['tampered'])).rejects.toMatchObject({ code: SqlState.RaiseException });
    await expect(db.query('DELETE FROM audit_log')).rejects.toMatchObject({ code: SqlState.RaiseException });
  });

  it(`${target.name}: JSON documents round-trip`, async () => {
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'org-a', 'web', 'Web')");
    const doc = { enabled: true, nested: { list: [1, 'two', null] }, unicode: 'é👍' };
    await db.query('INSERT INTO flags (project_id, key, name, definition) VALUES ($1, $2, $3, $4)', ['p1', 'f', 'F', JSON.stringify(doc)]);

    const row = await db.query<{ definition: unknown; version: number }>('SELECT definition, version FROM flags WHERE key = $1', ['f']);

    expect(row.rows[0]).toEqual({ definition: doc, version: 1 });
  });
});

describe('a migration behind a long transaction (postgres)', () => {
  const target = postgresTarget();
  let db: Database;
  let dir = '';

  /** Holds ACCESS SHARE on `table` in a transaction of its own until the returned function is called. */
  const holdLock = async (table: string): Promise<{ release: () => Promise<void> }> => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = db.withTransaction(async (tx) => {
      await tx.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE`);
      locked();
      await released;
    });
    await isLocked;
    return {
      release: async () => {
        release();
        await holder;
      },
    };
  };

  beforeAll(async () => {
    db = await target.open();
    await db.query('CREATE TABLE lock_probe (id int)');
    dir = `${await mkdtemp(path.join(tmpdir(), 'xp-migrations-'))}/`;
    await writeFile(path.join(dir, '9001_probe.sql'), 'ALTER TABLE lock_probe ADD COLUMN x int;');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await target.dispose();
  });

  it('gives up waiting for the lock after lock_timeout, each try, and says which migration and why, applying nothing', async () => {
    const lock = await holdLock('lock_probe');
    try {
      const started = Date.now();
      const failed = await migrate(db, dir, { lockTimeoutMs: 100, lockTries: 2, lockRetryMs: 10 }).then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(failed).toBeInstanceOf(DatabaseError);
      expect((failed as DatabaseError).code).toBe(SqlState.LockNotAvailable);
      expect((failed as DatabaseError).message).toMatch(/^migration 9001_probe\.sql waited more than 100 ms for a lock 2 times/);
      // Bounded by the timeouts, not by the transaction holding the lock.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await db.query("SELECT 1 FROM schema_migrations WHERE name = '9001_probe.sql'")).rowCount).toBe(0);
    } finally {
      await lock.release();
    }
  });

  it('tries again and applies the migration once the lock is released', async () => {
    const lock = await holdLock('lock_probe');
    const lockWaits = async (): Promise<boolean> =>
      ((await db.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount) > 0;
    const until = async (want: boolean): Promise<void> => {
      while ((await lockWaits()) !== want) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const applying = migrate(db, dir, { lockTimeoutMs: 100, lockTries: 20, lockRetryMs: 200 });
    // Released only after a try waited for the lock and gave up (its wait shows in pg_stat_activity, then goes).
    await until(true);
    await until(false);
    await lock.release();

    expect(await applying).toEqual(['9001_probe.sql']);
    expect((await db.query<{ x: number | null }>('SELECT x FROM lock_probe')).rows).toEqual([]);
  });
});
