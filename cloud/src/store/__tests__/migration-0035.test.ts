import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { listCodeRefBranches } from '../code-refs.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0035 (repository names without case) on a database of the release before it: names are
 * lower-cased, and where a branch was uploaded under several spellings they are merged, a file's
 * references coming from the latest upload that has it.
 */
describe('migration 0035 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0035'));
  });
  afterAll(async () => {
    await close();
  });

  it('lower-cases repository names and keeps the latest upload of a branch stored under two spellings', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'demo', 'Demo')");
    const insert = (repository: string, branch: string, flag: string, line: number, at: string) =>
      db.query(
        `INSERT INTO code_refs (project_id, repository, branch, commit_sha, flag_key, path, line, col, snippet, language, updated_at)
         VALUES ('p1', $1, $2, NULL, $3, 'src/a.ts', $4, 1, 'x', 'typescript', $5)`,
        [repository, branch, flag, line, at],
      );
    // Acme/Shop@main is older than acme/shop@main; Acme/Shop@dev has no other spelling; Other/Repo only one.
    await insert('Acme/Shop', 'main', 'old-flag', 1, '2026-01-01T00:00:00Z');
    await insert('Acme/Shop', 'main', 'same', 2, '2026-01-01T00:00:00Z');
    await insert('acme/shop', 'main', 'same', 2, '2026-03-01T00:00:00Z');
    await insert('Acme/Shop', 'dev', 'dev-flag', 5, '2026-02-01T00:00:00Z');
    await insert('Other/Repo', 'main', 'x', 1, '2026-02-01T00:00:00Z');

    expect(await migrate(db)).toContain('0035_code_refs_repository_case.sql');

    const rows = await db.query<{ repository: string; branch: string; flag_key: string }>('SELECT repository, branch, flag_key FROM code_refs ORDER BY repository, branch, flag_key');
    expect(rows.rows.map((r) => `${r.repository}@${r.branch} ${r.flag_key}`)).toEqual(['acme/shop@dev dev-flag', 'acme/shop@main same', 'other/repo@main x']);
    expect((await listCodeRefBranches(db, 'p1', {})).map((b) => `${b.repository}@${b.branch} ${b.references}`)).toEqual(['acme/shop@dev 1', 'acme/shop@main 1', 'other/repo@main 1']);
  });
});

describe('migration 0035 on a monorepo uploaded per folder under two spellings', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0035'));
  });
  afterAll(async () => {
    await close();
  });

  it("keeps every folder's references, and a file's from the latest upload that has it", async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'demo', 'Demo')");
    const insert = (repository: string, flag: string, path: string, line: number, at: string) =>
      db.query(
        `INSERT INTO code_refs (project_id, repository, branch, commit_sha, flag_key, path, line, col, snippet, language, updated_at)
         VALUES ('p1', $1, 'main', NULL, $2, $3, $4, 1, 'x', 'typescript', $5)`,
        [repository, flag, path, line, at],
      );
    // CI job 1 uploads packages/api as Acme/Mono; job 2 packages/web as acme/mono, later; job 1's
    // older run had packages/web/b.ts too, which job 2 rescanned (now one reference, at another line).
    await insert('Acme/Mono', 'api-flag', 'packages/api/a.ts', 3, '2026-11-01T10:00:00Z');
    await insert('Acme/Mono', 'api-flag', 'packages/api/a.ts', 9, '2026-11-01T10:00:00Z');
    await insert('Acme/Mono', 'old-web-flag', 'packages/web/b.ts', 1, '2026-10-01T10:00:00Z');
    await insert('acme/mono', 'web-flag', 'packages/web/b.ts', 4, '2026-11-01T10:05:00Z');

    expect(await migrate(db)).toContain('0035_code_refs_repository_case.sql');

    const rows = await db.query<{ repository: string; flag_key: string; path: string; line: number }>('SELECT repository, flag_key, path, line FROM code_refs ORDER BY path, line');
    expect(rows.rows.map((r) => `${r.repository} ${r.path}:${r.line} ${r.flag_key}`)).toEqual([
      'acme/mono packages/api/a.ts:3 api-flag',
      'acme/mono packages/api/a.ts:9 api-flag',
      'acme/mono packages/web/b.ts:4 web-flag',
    ]);
    expect((await listCodeRefBranches(db, 'p1', {})).map((b) => `${b.repository}@${b.branch} ${b.references}`)).toEqual(['acme/mono@main 3']);
  });
});
