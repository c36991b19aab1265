/**
 * The migrations custom resource on a database a newer release migrated — CloudFormation rolling a
 * failed deploy back re-runs the old handler on the new schema: it must not fail (that would wedge
 * the rollback), so it logs one error line naming the unknown migrations and carries on. And what
 * it applies is logged in one line. Real PGlite (the migrated template, or an older schema).
 */
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../domain/context.js';
import type { Database } from '../../store/db.js';
import { MIGRATIONS_DIR, createPgliteDatabase } from '../../store/db.js';
import { databaseBefore } from '../../store/__tests__/migrated-before.js';
import { migratedPgliteDump } from '../../store/__tests__/test-databases.js';
import { createMigrateHandler } from '../migrate.js';

const NEWER = '9999_from_a_newer_release.sql';

/** Bootstrap finds the organisation: the run touches neither DynamoDB nor a secret. */
const env = { XP_RULESET_TABLE: 'xp-test-rulesets', XP_ADMIN_EMAIL: 'owner@example.com', AWS_REGION: 'eu-west-1' };

const capture = (): { logger: Logger; lines: { level: string; message: string; fields: Record<string, unknown> }[] } => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
};

const recorded = async (db: Database): Promise<string[]> => (await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).rows.map((r) => r.name);

describe('the migrations custom resource on a newer or an older schema', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) {
      await close();
    }
  });

  it('logs one error line naming the migrations a newer release applied, and carries on', async () => {
    const db = await createPgliteDatabase(undefined, { loadDataDir: await migratedPgliteDump() });
    await db.query("INSERT INTO organizations (id, name) VALUES ('org', 'Org')");
    await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [NEWER]);
    const before = await recorded(db);
    const log = capture();
    // The handler closes what it is given: a handle whose close is only noted, so the test reads on.
    let closed = false;
    const handle: Database = {
      ...db,
      close: () => {
        closed = true;
        return Promise.resolve();
      },
    };
    closers.push(() => db.close());

    const result = await createMigrateHandler(env, { db: () => Promise.resolve(handle), migrationsDir: MIGRATIONS_DIR, logger: log.logger })({ RequestType: 'Update', PhysicalResourceId: 'xp-database-schema' });

    expect(result).toEqual({ PhysicalResourceId: 'xp-database-schema', Data: { applied: 0, bootstrapped: false } });
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: `database: migration ${NEWER} is unknown to this release (a newer release applied it); carrying on, as failing would wedge a rollback. This release's code ignores what it added, access checks included: deploy the newer release again (docs/deploy.md, schema migrations and failed deploys)`,
        fields: { unknownMigrations: [NEWER] },
      },
    ]);
    expect(log.lines.filter((l) => l.level === 'info')).toEqual([
      { level: 'info', message: expect.stringMatching(/^database: applied 0 migrations in \d+\.\d s$/), fields: expect.objectContaining({ applied: [], bootstrapped: false, unknownMigrations: [NEWER] }) },
    ]);
    expect(closed).toBe(true);
    expect(await recorded(db)).toEqual(before);
  });

  it('logs what it applied in one line, and no error line when every recorded migration is known', async () => {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    const last = files.at(-1)!;
    const older = await databaseBefore(last.slice(0, 4));
    closers.push(older.close);
    await older.db.query("INSERT INTO organizations (id, name) VALUES ('org', 'Org')");
    const log = capture();
    const handle: Database = { ...older.db, close: () => Promise.resolve() };

    const result = await createMigrateHandler(env, { db: () => Promise.resolve(handle), migrationsDir: MIGRATIONS_DIR, logger: log.logger })({ RequestType: 'Update', PhysicalResourceId: 'xp-database-schema' });

    expect(result.Data).toEqual({ applied: 1, bootstrapped: false });
    expect(log.lines).toEqual([
      { level: 'info', message: expect.stringMatching(new RegExp(`^database: applied 1 migration \\(${last.replace('.sql', '')}\\) in \\d+\\.\\d s$`)), fields: expect.objectContaining({ applied: [last], ms: expect.any(Number) }) },
    ]);
  });
});
