import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { audit } from '../audit.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0030 (audit_log.environment_keys) on a database of the release before it: the entries
 * written before it get the environments they touched too (a generated column, computed without an
 * UPDATE, which the append-only log refuses), so the environment filter finds a create, a delete and
 * a whole-flag change filed under no environment, old or new.
 */
describe('migration 0030 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0030'));
  });
  afterAll(async () => {
    await close();
  });

  it('files the entries written before it under the environments they touched', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web')");
    const entry = async (action: string, environment: string | null, diff: unknown, resourceType = 'flag'): Promise<void> => {
      await db.query(
        `INSERT INTO audit_log (org_id, project_id, actor_id, actor_email, client, action, resource_type, resource_key, environment_key, diff)
         VALUES ('o1', 'p1', NULL, NULL, 'api', $1, $2, 'f', $3, $4)`,
        [action, resourceType, environment, JSON.stringify(diff)],
      );
    };
    const state = { enabled: false, defaultVariation: 'on', offVariation: 'off' };
    await entry('flag.created', null, [{ op: 'add', path: '', to: { key: 'f', environments: { production: state, development: state } } }]);
    await entry('flag.updated', null, [{ op: 'replace', path: '/environments/production/enabled', from: false, to: true }, { op: 'replace', path: '/environments/development/enabled', from: true, to: false }]);
    await entry('flag.updated', null, [{ op: 'replace', path: '/variations/0/value', from: false, to: true }]);
    await entry('flag.updated', null, [{ op: 'replace', path: '/name', from: 'F', to: 'G' }]);
    await entry('flag.enabled', 'staging', [{ op: 'replace', path: '/environments/staging/enabled', from: false, to: true }]);
    await entry('flag.deleted', null, [{ op: 'remove', path: '', from: { key: 'f', environments: { production: state } } }]);
    await entry('project.updated', null, [{ op: 'replace', path: '/name', from: 'Web', to: 'Shop' }], 'project');

    expect((await migrate(db))[0]).toBe('0030_audit_environments.sql');

    const keys = (await db.query<{ action: string; environment_keys: string[] | null }>('SELECT action, environment_keys FROM audit_log ORDER BY id')).rows;
    expect(keys.map((r) => [r.action, r.environment_keys])).toEqual([
      ['flag.created', ['development', 'production']],
      ['flag.updated', ['development', 'production']],
      ['flag.updated', ['*']],
      ['flag.updated', null],
      ['flag.enabled', ['staging']],
      ['flag.deleted', ['production']],
      ['project.updated', null],
    ]);
    const production = await audit.list(db, 'o1', { environment: 'production', limit: 50 });
    expect(production.items.map((e) => e.action)).toEqual(['flag.deleted', 'flag.updated', 'flag.updated', 'flag.created']);
    // Still append-only.
    await expect(db.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only/);
  });
});
