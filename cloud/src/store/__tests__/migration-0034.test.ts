import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { audit } from '../audit.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0034 (audit_log credential and address columns) on a database of the release before it:
 * the entries written before it stay as they were (no credential, no address: the append-only log
 * takes nullable columns without an UPDATE), new entries record them, and nothing else can be stored.
 */
describe('migration 0034 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0034'));
  });
  afterAll(async () => {
    await close();
  });

  it('keeps older entries without a credential or address and records them for new ones', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query(
      `INSERT INTO audit_log (org_id, project_id, actor_id, actor_email, client, action, resource_type, resource_key, environment_key, diff)
       VALUES ('o1', NULL, 'u1', 'a@example.com', 'console', 'user.logged-in', 'user', 'u1', NULL, '[]')`,
    );

    expect((await migrate(db))[0]).toBe('0034_audit_credentials.sql');

    const base = { orgId: 'o1', projectId: null, actorId: 'u1', actorEmail: 'a@example.com', client: 'cli', action: 'user.updated', resourceType: 'user', resourceKey: 'u1', diff: [] } as const;
    await audit.append(db, { ...base, credential: { kind: 'token', id: 't1', prefix: 'xpp_ab12cd34' }, ip: '203.0.113.7' });
    await audit.append(db, { ...base, credential: { kind: 'session', id: 's1', prefix: 'ignored for a session' }, ip: null });

    const page = await audit.list(db, 'o1', { limit: 10 });
    expect(page.items.map((e) => [e.action, e.credential, e.ip])).toEqual([
      ['user.updated', { kind: 'session', id: 's1', prefix: null }, null],
      ['user.updated', { kind: 'token', id: 't1', prefix: 'xpp_ab12cd34' }, '203.0.113.7'],
      ['user.logged-in', null, null],
    ]);
    expect((await audit.list(db, 'o1', { limit: 10, credentialId: 't1' })).items.map((e) => e.credential?.id)).toEqual(['t1']);

    // Only the known kinds, always with an id; a prefix only for a token.
    const insert = (kind: string | null, id: string | null, prefix: string | null): Promise<unknown> =>
      db.query(
        `INSERT INTO audit_log (org_id, client, action, resource_type, resource_key, diff, credential_kind, credential_id, credential_prefix)
         VALUES ('o1', 'api', 'user.updated', 'user', 'u1', '[]', $1, $2, $3)`,
        [kind, id, prefix],
      );
    await expect(insert('password', 'x', null)).rejects.toThrow(/audit_log_credential/);
    await expect(insert('token', null, null)).rejects.toThrow(/audit_log_credential/);
    await expect(insert(null, 'x', null)).rejects.toThrow(/audit_log_credential/);
    await expect(insert('session', 's1', 'xps_ab12cd34')).rejects.toThrow(/audit_log_credential/);
    // Still append-only.
    await expect(db.query("UPDATE audit_log SET ip = '1.2.3.4'")).rejects.toThrow(/append-only/);
  });
});
