/**
 * `xp start` (and the CLI commands that open the platform's database) on a database a newer release
 * migrated: refused before anything is applied, with what to do, exit code 1 and no stack trace; and
 * the line `xp start` logs when it applies migrations (an upgrade). Real PGlite data folders and a
 * real PostgreSQL database.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/xp.js';
import type { Logger } from '../../domain/context.js';
import { silentLogger } from '../../domain/context.js';
import type { Database } from '../../store/db.js';
import { MIGRATIONS_DIR, createPgDatabase, createPgliteDatabase, migrate } from '../../store/db.js';
import { emptyPgliteSnapshot, pgliteBefore } from '../../store/__tests__/pglite-snapshots.js';
import { LOCK_FILE } from '../data-lock.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = 'newer schema test passphrase';
const NEWER = '9999_from_a_newer_release.sql';
const REFUSED =
  `the database was migrated by a newer release of xp: it records migration ${NEWER}, which this release does not know. ` +
  'This release would ignore what it added, so it refuses the database, which it left unchanged: run the newer release, or restore the backup taken before the upgrade (docs/operations.md#backup-and-restore)';

const capture = (): { logger: Logger; lines: string[] } => {
  const lines: string[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
};

const recorded = async (db: Database): Promise<string[]> => (await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).rows.map((r) => r.name);

describe('xp start on a database migrated by a newer release, and on an older one', () => {
  let root: string;
  let files: string[];
  const cleanups: (() => Promise<unknown>)[] = [];

  const config = (dataDir: string, env: Record<string, string> = {}) =>
    configFromEnv({ XP_DATA_DIR: dataDir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0', ...env });
  const start = (dataDir: string, env: Record<string, string> = {}, logger: Logger = silentLogger): Promise<LocalStack> =>
    startLocalStack(config(dataDir, env), { logger, print: () => undefined });

  /**
   * A data folder whose embedded database has the migrations before `migration` (`'0012'`) applied, as
   * an older release left it (from a snapshot of an initdb'd database: initdb is the slow part).
   */
  const folderBefore = async (name: string, migration: string, newerRow = false): Promise<string> => {
    const dir = path.join(root, name);
    await mkdir(dir, { mode: 0o700 });
    const db = await pgliteBefore(migration, path.join(dir, 'postgres'));
    try {
      if (newerRow) {
        await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [NEWER]);
      }
    } finally {
      await db.close();
    }
    return dir;
  };

  const embedded = async <T>(dir: string, fn: (db: Database) => Promise<T>): Promise<T> => {
    const db = await createPgliteDatabase(path.join(dir, 'postgres'));
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'xp-newer-schema-'));
    files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    // Made once (initdb, unless an earlier run kept it), within the hook's longer timeout.
    await emptyPgliteSnapshot();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  });

  it('refuses to start, naming the unknown migration and what to do, and applies and creates nothing; xp replay and xp users reset-password refuse it too', async () => {
    const last = files.at(-1)!;
    const dir = await folderBefore('newer', last.slice(0, 4), true);
    const before = await embedded(dir, recorded);

    await expect(start(dir)).rejects.toThrow(REFUSED);
    const err: string[] = [];
    const replayed = await main(['replay', '--from', '2026-01-01', '--to', '2026-01-02', '--data-dir', dir], { DATABASE_URL: '' }, () => undefined, (l) => err.push(l));
    const reset = await main(['users', 'reset-password', 'me@example.com', '--data-dir', dir], { DATABASE_URL: '' }, () => undefined, (l) => err.push(l));

    expect([replayed, reset]).toEqual([1, 1]);
    expect(err.filter((l) => l.startsWith('error: '))).toEqual([`error: ${REFUSED}`, `error: ${REFUSED}`]);
    // Nothing applied (this release's last migration is still pending), nothing created, nothing held.
    const after = await embedded(dir, async (db) => ({ migrations: await recorded(db), organizations: (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations')).rows[0]!.n }));
    expect(after).toEqual({ migrations: before, organizations: 0 });
    expect(before).toContain(NEWER);
    expect(before).not.toContain(last);
    for (const file of ['database.json', 'initial-credentials.txt', 'platform.key', LOCK_FILE]) {
      expect([file, existsSync(path.join(dir, file))]).toEqual([file, false]);
    }
  }, 60_000);

  it('refuses a DATABASE_URL database a newer release migrated, leaving it unchanged', async () => {
    const name = `xp_test_newer_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    });
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    const db = createPgDatabase(url.toString());
    cleanups.push(() => db.close());
    await migrate(db);
    await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [NEWER]);
    const before = await recorded(db);
    const dir = path.join(root, 'newer-postgres');

    await expect(start(dir, { DATABASE_URL: url.toString() })).rejects.toThrow(REFUSED);

    expect(await recorded(db)).toEqual(before);
    expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations')).rows[0]!.n).toBe(0);
    expect(existsSync(path.join(dir, 'database.json'))).toBe(false);
  });

  it('`xp start` exits with status 1 and one error line, no stack trace', async () => {
    const dir = await folderBefore('newer-spawned', '9999', true);
    const bin = fileURLToPath(new URL('../../../bin/xp.js', import.meta.url));
    const env = { ...process.env, XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_DEMO: '0', DATABASE_URL: '', XP_LOG_FORMAT: 'json' };

    const child = spawn(process.execPath, [bin, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 60_000);
      child.on('exit', (status) => {
        clearTimeout(killer);
        resolve(status);
      });
    });

    expect({ code, stdout, stderr }).toEqual({ code: 1, stdout: '', stderr: `error: ${REFUSED}\n` });
  }, 90_000);

  it('logs the migrations it applies when it upgrades an older database, and no such line when there are none', async () => {
    const dir = await folderBefore('older', '0012');
    const pending = files.filter((f) => f >= '0012');
    const first = capture();

    const upgraded = await start(dir, {}, first.logger);
    await upgraded.close();
    const again = capture();
    const restarted = await start(dir, {}, again.logger);
    await restarted.close();

    const applied = first.lines.filter((l) => l.includes('database: applied'));
    expect(applied).toEqual([
      expect.stringMatching(
        new RegExp(
          `^info database: applied ${pending.length} migrations \\(0012_totals_rebuilds to ${pending.at(-1)!.replace('.sql', '')}\\) in \\d+\\.\\d s \\{"migrations":${pending.length},"first":"0012_totals_rebuilds.sql","last":"${pending.at(-1)!}","ms":\\d+\\}$`,
        ),
      ),
    ]);
    expect(again.lines.filter((l) => l.includes('database: applied'))).toEqual([]);
    expect(await embedded(dir, recorded)).toEqual(files);
  }, 60_000);
});
