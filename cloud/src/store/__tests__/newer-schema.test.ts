/**
 * A database a newer release migrated (schema_migrations records a migration this code's files do
 * not hold): `unknownMigrations` names it, `migrate` with `onNewerSchema: 'refuse'` refuses it before
 * applying anything, and without the option `migrate` behaves as before (applies the known ones).
 * Real PGlite, with the migrations of the release before the last one applied.
 */
import { readdir } from 'node:fs/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { MIGRATIONS_DIR, NewerSchemaError, createPgliteDatabase, describeApplied, migrate, unknownMigrations } from '../db.js';
import { emptyPgliteSnapshot, pgliteBefore } from './pglite-snapshots.js';

const NEWER = '9999_from_a_newer_release.sql';

const recorded = async (db: Database): Promise<string[]> => (await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name')).rows.map((r) => r.name);

describe('a database migrated by a newer release', () => {
  const closers: (() => Promise<void>)[] = [];
  // Made once (initdb, unless an earlier run kept it), within the hook's longer timeout.
  beforeAll(async () => {
    await emptyPgliteSnapshot();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) {
      await close();
    }
  });

  /** The database of the release before the last migration, with a row a newer release wrote. */
  const olderWithNewerRow = async (): Promise<{ db: Database; last: string }> => {
    const last = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort().at(-1)!;
    // From a snapshot of an initdb'd database: initdb is the slow part.
    const db = await pgliteBefore(last.slice(0, 4));
    closers.push(() => db.close());
    await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [NEWER]);
    return { db, last };
  };

  it('is named by unknownMigrations; none on a database never migrated', async () => {
    const { db } = await olderWithNewerRow();
    const fresh = await createPgliteDatabase(undefined, { loadDataDir: await emptyPgliteSnapshot() });
    closers.push(() => fresh.close());

    expect(await unknownMigrations(db)).toEqual([NEWER]);
    expect(await unknownMigrations(fresh)).toEqual([]);
  });

  it("is refused with onNewerSchema: 'refuse', naming the migration and what to do, before anything is applied", async () => {
    const { db, last } = await olderWithNewerRow();
    const before = await recorded(db);

    const refused = await migrate(db, MIGRATIONS_DIR, { onNewerSchema: 'refuse' }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(refused).toBeInstanceOf(NewerSchemaError);
    expect((refused as NewerSchemaError).unknown).toEqual([NEWER]);
    expect((refused as Error).message).toBe(
      `the database was migrated by a newer release of xp: it records migration ${NEWER}, which this release does not know. ` +
        'This release would ignore what it added, so it refuses the database, which it left unchanged: run the newer release, or restore the backup taken before the upgrade (docs/operations.md#backup-and-restore)',
    );
    // The pending migration of this release was not applied.
    expect(await recorded(db)).toEqual(before);
    expect(before).not.toContain(last);
  });

  it('names the access checks a rollback past 0022–0024 would drop', () => {
    const error = new NewerSchemaError(['0022_password_change_required.sql', '0023_token_scopes.sql', '0024_project_roles.sql', '0025_rollup_trigger_probes.sql']);

    expect(error.message).toContain('it records 4 migrations 0022_password_change_required.sql, 0023_token_scopes.sql, 0024_project_roles.sql, 0025_rollup_trigger_probes.sql, which this release does not know');
    expect(error.message).toContain(
      "would ignore what they added (including access checks: must-change-password on passwords an administrator set; access tokens' role and project limits; per-project roles)",
    );
  });

  it('is migrated as before without the option: the known migrations are applied', async () => {
    const { db, last } = await olderWithNewerRow();

    expect(await migrate(db)).toEqual([last]);
    expect(await recorded(db)).toContain(NEWER);
  });
});

describe('describeApplied', () => {
  it('names the first and last migration applied, their number and the time', () => {
    expect(describeApplied(['0012_totals_rebuilds.sql', '0013_webhooks.sql', '0027_sdk_key_usage.sql'], 213)).toBe('database: applied 3 migrations (0012_totals_rebuilds to 0027_sdk_key_usage) in 0.2 s');
    expect(describeApplied(['0027_sdk_key_usage.sql'], 1460)).toBe('database: applied 1 migration (0027_sdk_key_usage) in 1.5 s');
    expect(describeApplied([], 3)).toBe('database: applied 0 migrations in 0.0 s');
  });
});
