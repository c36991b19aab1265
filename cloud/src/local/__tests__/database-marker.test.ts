import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATABASE_MARKER, checkDatabaseKind, databaseTarget } from '../database-marker.js';

/** The data folder remembers which database its platform lives in, and refuses another kind. */
describe('the data folder and its database', () => {
  const made: string[] = [];
  const folder = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'xp-marker-'));
    made.push(dir);
    return dir;
  };
  afterAll(async () => {
    await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
  });
  const PG = 'postgres://xp:s3cret@db.internal:5433/xp_prod';

  it('records the kind on first use, without the URL\'s user or password, and starts again with the same', async () => {
    const dir = await folder();
    const record = await checkDatabaseKind(dir, PG, () => undefined);
    // Nothing is recorded until the database answered (the caller records then).
    await expect(readFile(path.join(dir, DATABASE_MARKER), 'utf8')).rejects.toThrow('ENOENT');
    await record();
    const marker = await readFile(path.join(dir, DATABASE_MARKER), 'utf8');
    expect(JSON.parse(marker)).toEqual({ database: 'postgresql', target: 'db.internal:5433/xp_prod' });
    expect(marker).not.toContain('s3cret');
    await expect(checkDatabaseKind(dir, PG, () => undefined)).resolves.toBeInstanceOf(Function);
  });

  it('refuses the embedded database on a folder that served PostgreSQL, and PostgreSQL on one with the embedded database', async () => {
    const pg = await folder();
    await (await checkDatabaseKind(pg, PG, () => undefined))();
    const embedded = await folder();
    await (await checkDatabaseKind(embedded, undefined, () => undefined))();

    await expect(checkDatabaseKind(pg, undefined, () => undefined)).rejects.toThrow(
      `${pg} holds a platform whose database is PostgreSQL (db.internal:5433/xp_prod): start it with that DATABASE_URL again, or give the embedded database a folder of its own (XP_DATA_DIR or --data-dir)`,
    );
    await expect(checkDatabaseKind(embedded, PG, () => undefined)).rejects.toThrow(`${embedded} holds a platform with the embedded database: start it without DATABASE_URL`);
  });

  it('tells a folder from before the marker by its contents, and lets another PostgreSQL database (a restore) in with a notice', async () => {
    const old = await folder();
    await writeFile(path.join(old, 'platform.key'), 'k');
    await expect(checkDatabaseKind(old, undefined, () => undefined)).rejects.toThrow('holds a platform whose database is PostgreSQL: start it');
    const oldEmbedded = await folder();
    await mkdir(path.join(oldEmbedded, 'postgres'));
    await expect(checkDatabaseKind(oldEmbedded, PG, () => undefined)).rejects.toThrow('holds a platform with the embedded database');

    const moved = await folder();
    await (await checkDatabaseKind(moved, PG, () => undefined))();
    const notices: string[] = [];
    await checkDatabaseKind(moved, 'postgres://localhost/xp_restored', (m) => notices.push(m));
    expect(notices).toEqual([`${moved} served PostgreSQL at db.internal:5433/xp_prod until now; it now serves localhost:5432/xp_restored (a restore or a move)`]);
    expect(databaseTarget('not a url')).toBe('an unparsable DATABASE_URL');
  });
});
