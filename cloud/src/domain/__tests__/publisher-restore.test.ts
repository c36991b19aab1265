/**
 * A database restored from a backup while the ruleset store kept what was published since: the store
 * is ahead of the database. Republishing (every `xp start` does, and `POST …/republish`) must publish
 * the database's rulesets as the newest versions, so SDKs drop the flags the restore took away and
 * later changes publish again (before, they were refused until the database's counter caught up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { environments } from '../../store/projects.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import { republish } from '../publisher.js';

const BASE = '/api/v1/projects/demo';
const ENV = 'development';

describe('republishing over a ruleset store ahead of a restored database', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const served = async (): Promise<{ version: number; flags: string[] }> => {
    const latest = (await p.rulesets.latest(projectId, ENV))!;
    return { version: latest.version, flags: Object.keys(latest.ruleset.flags).sort() };
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  it('publishes the database\'s ruleset after the store\'s version, and later changes publish again', async () => {
    // The backup: the database as it is now.
    const backupVersion = await environments.currentRulesetVersion(p.db, projectId, ENV);
    const before = await served();
    // After the backup, two flags were created: the store (and every SDK) moved on by two versions.
    const created = await must('POST', `${BASE}/flags`, booleanFlagBody('after-backup', { [ENV]: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
    await must('POST', `${BASE}/flags`, booleanFlagBody('after-backup-2', { [ENV]: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
    const ahead = await served();
    expect(ahead.version).toBe(backupVersion + 2);
    expect(ahead.flags).toContain('after-backup');

    // The restore: the database goes back to the backup (its flags and its ruleset counter); the store does not.
    await p.db.query("DELETE FROM flags WHERE project_id = $1 AND key LIKE 'after-backup%'", [projectId]);
    await p.db.query('UPDATE ruleset_versions SET version = $3 WHERE project_id = $1 AND environment_key = $2', [projectId, ENV, backupVersion]);
    expect(created.version).toBe(1);

    await republish(p.services.deps, projectId);
    const restored = await served();
    expect(restored).toEqual({ version: ahead.version + 1, flags: before.flags });
    expect(p.logs.some((l) => l.startsWith('the ruleset store is ahead of the database'))).toBe(true);

    // A change after the restore reaches the store at once (a kill switch must not wait for the counter to catch up).
    const flag = await must('GET', `${BASE}/flags/${before.flags[0]!}`);
    await must('POST', `${BASE}/flags/${before.flags[0]!}/environments/${ENV}/toggle`, { enabled: !(flag.definition.environments[ENV]?.enabled === true) }, flag.version as number);
    expect((await served()).version).toBe(ahead.version + 2);
    expect(p.logs.some((l) => l.startsWith('ruleset publish failed'))).toBe(false);

    // A second republish with nothing changed publishes nothing.
    expect(await republish(p.services.deps, projectId)).toEqual([]);
  });
});
