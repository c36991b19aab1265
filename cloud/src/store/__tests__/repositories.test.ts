import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flag } from '@xp/shared';
import { flagSchema } from '@xp/shared';
import { audit } from '../audit.js';
import { changeRequests } from '../change-requests.js';
import { credentials } from '../credentials.js';
import type { Database } from '../db.js';
import { DefinitionKind, DefinitionRepository } from '../definitions.js';
import { environments, projects } from '../projects.js';
import { users } from '../users.js';
import { TARGETS } from './test-databases.js';

const flags = new DefinitionRepository<Flag>(DefinitionKind.Flag);

function flag(key: string, name = key): Flag {
  return flagSchema.parse({ key, name, type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }] });
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('repositories on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;
  let userId: string;
  const projectId = 'p1';

  beforeAll(async () => {
    db = await target.open();
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await projects.create(db, { id: projectId, orgId: 'o1', key: 'web', name: 'Web' });
    await environments.create(db, projectId, { key: 'production', name: 'Production', production: true, requireApproval: true }, null);
    userId = (await users.create(db, { id: 'u1', orgId: 'o1', email: 'Ann@Example.com', name: 'Ann', role: 'editor', passwordHash: 'x' })).id;
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('creates, reads, updates with a version check, and refuses duplicates', async () => {
    const created = await flags.create(db, projectId, flag('alpha'), userId);
    const updated = await flags.update(db, projectId, { ...created.definition, name: 'Alpha 2' }, 1, userId);

    expect(created.version).toBe(1);
    expect(updated).toMatchObject({ version: 2, name: 'Alpha 2', updatedBy: userId });
    await expect(flags.update(db, projectId, { ...created.definition, name: 'stale' }, 1, userId)).rejects.toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 2 } });
    await expect(flags.create(db, projectId, flag('alpha'), userId)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(flags.get(db, projectId, 'missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('paginates by key with an opaque cursor and searches key and name literally', async () => {
    for (const key of ['b-1', 'b-2', 'b-3', 'c_percent']) {
      await flags.create(db, projectId, flag(key, key === 'c_percent' ? '100% rollout' : `Flag ${key}`), userId);
    }

    const first = await flags.list(db, projectId, { limit: 2 });
    const second = await flags.list(db, projectId, { limit: 2, cursor: first.nextCursor });
    const third = await flags.list(db, projectId, { limit: 2, cursor: second.nextCursor });
    const search = await flags.list(db, projectId, { limit: 50, search: '100%' });
    const wildcard = await flags.list(db, projectId, { limit: 50, search: '_' });

    expect([...first.items, ...second.items, ...third.items].map((f) => f.key)).toEqual(['alpha', 'b-1', 'b-2', 'b-3', 'c_percent']);
    expect(third.nextCursor).toBeUndefined();
    expect(search.items.map((f) => f.key)).toEqual(['c_percent']);
    expect(wildcard.items.map((f) => f.key)).toEqual(['c_percent']);
    await expect(flags.list(db, projectId, { limit: 2, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('deletes only at the expected version', async () => {
    await expect(flags.delete(db, projectId, 'b-1', 7)).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
    await flags.delete(db, projectId, 'b-1', 1);

    expect(await flags.find(db, projectId, 'b-1')).toBeUndefined();
  });

  it('finds users case-insensitively and keeps emails unique per organisation', async () => {
    const found = await users.findForLogin(db, 'ann@EXAMPLE.com');

    expect(found).toMatchObject({ id: 'u1', passwordHash: 'x' });
    await expect(users.create(db, { id: 'u2', orgId: 'o1', email: 'ann@example.com', name: 'Dup', role: 'viewer', passwordHash: null })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
  });

  it('resolves sessions and tokens by hash only while active', async () => {
    const now = new Date('2026-11-25T12:00:00Z');
    await credentials.createSession(db, { id: 's1', userId, tokenHash: 'h-session', client: 'api', expiresAt: new Date('2026-11-25T13:00:00Z') });
    await credentials.createAccessToken(db, { id: 't1', userId, name: 'ci', tokenHash: 'h-token', prefix: 'xpp_abc', expiresAt: null, parentId: null });

    expect(await credentials.findPrincipal(db, 'h-session', now)).toMatchObject({ userId, via: 'session', role: 'editor' });
    expect(await credentials.findPrincipal(db, 'h-session', new Date('2026-11-25T13:00:01Z'))).toBeUndefined();
    expect(await credentials.findPrincipal(db, 'h-token', now)).toMatchObject({ via: 'token' });
    await credentials.revokeAccessToken(db, userId, 't1');
    expect(await credentials.findPrincipal(db, 'h-token', now)).toBeUndefined();
    expect((await credentials.listAccessTokens(db, userId))[0]?.lastUsedAt).not.toBeNull();
  });

  it('bumps the ruleset version only when the content hash changes, under a row lock', async () => {
    const v1 = await db.withTransaction((tx) => environments.nextRulesetVersion(tx, projectId, 'production', 'hash-a'));
    const same = await db.withTransaction((tx) => environments.nextRulesetVersion(tx, projectId, 'production', 'hash-a'));
    const v2 = await db.withTransaction((tx) => environments.nextRulesetVersion(tx, projectId, 'production', 'hash-b'));

    expect([v1, same, v2]).toEqual([1, undefined, 2]);
    expect(await environments.currentRulesetVersion(db, projectId, 'production')).toBe(2);
  });

  it('moves change requests through their states and refuses invalid transitions', async () => {
    const cr = await changeRequests.create(db, { id: 'cr1', projectId, resourceType: 'flag', resourceKey: 'alpha', environment: 'production', baseVersion: 2, base: { state: { enabled: false }, variations: {} }, proposed: { enabled: true }, diff: [], comment: null, proposedBy: userId });
    await db.query("INSERT INTO users (id, org_id, email, name, role) VALUES ('u9', 'o1', 'boss@example.com', 'Boss', 'admin')");

    const approved = await changeRequests.transition(db, projectId, 'cr1', { kind: 'approve', by: 'u9' });
    const applied = await changeRequests.transition(db, projectId, 'cr1', { kind: 'apply' });

    expect(cr.status).toBe('open');
    expect(cr.base).toEqual({ state: { enabled: false }, variations: {} });
    expect(approved).toMatchObject({ status: 'open', approvedBy: 'u9' });
    expect(applied.status).toBe('applied');
    await expect(changeRequests.transition(db, projectId, 'cr1', { kind: 'reject', by: 'u9' })).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('lists the audit log newest first with filters and a cursor', async () => {
    for (const [key, actor] of [['alpha', 'u1'], ['beta', 'u9'], ['alpha', 'u9']] as const) {
      await audit.append(db, { orgId: 'o1', projectId, actorId: actor, actorEmail: null, client: 'cli', action: 'flag.updated', resourceType: 'flag', resourceKey: key, diff: [] });
    }

    const alpha = await audit.list(db, 'o1', { limit: 10, resourceKey: 'alpha' });
    const byActor = await audit.list(db, 'o1', { limit: 1, actorId: 'u9' });
    const next = await audit.list(db, 'o1', { limit: 1, actorId: 'u9', cursor: byActor.nextCursor });

    expect(alpha.items.map((e) => e.actorId)).toEqual(['u9', 'u1']);
    expect([byActor.items[0]?.resourceKey, next.items[0]?.resourceKey]).toEqual(['alpha', 'beta']);
    expect(await audit.list(db, 'o2', { limit: 10 })).toEqual({ items: [] });
  });
});
